import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import type { FakeApiServer } from '../../src/kube/api-server.js';
import { startFakeApiServer } from '../../src/kube/api-server.js';
import type { Simulator } from '../../src/kube/simulator.js';
import { startSimulator } from '../../src/kube/simulator.js';
import { waitFor } from './helpers.js';
import type { Loose } from '../../src/kube/json.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const d = existsSync(KUBECTL) ? describe : describe.skip;

d('fake API server through kubectl', () => {
  let server: FakeApiServer;
  let sim: Simulator;
  let dir: string;

  /** Runs kubectl asynchronously (the server lives in this process). */
  const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        KUBECTL,
        ['--kubeconfig', server.kubeconfigPath, ...args],
        { timeout: 20_000, env: { PATH: process.env.PATH ?? '', HOME: dir } },
        (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  const manifest = (name: string, obj: unknown): string => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, YAML.stringify(obj));
    return file;
  };
  const deployment = (name: string, env: string, extra: Record<string, Loose> = {}) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'main', image: 'busybox:1.36', env: [{ name: 'V', value: env }] }],
        },
      },
      ...extra,
    },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kubectl-test-'));
    server = await startFakeApiServer({ gcDelayMs: 10 });
    sim = startSimulator({
      server,
      nodes: { 'node-1': join(dir, 'node-1') },
      timeScale: 0.01,
      tickMs: 20,
      runtimes: {
        'example/logger:*': (ctx) => ({
          argv: [
            process.execPath,
            '-e',
            `console.log('hello from ' + process.env.POD_NAME); setInterval(() => {}, 1000);`,
          ],
          env: { POD_NAME: ctx.podName },
        }),
      },
    });
  });
  afterAll(async () => {
    await sim?.stop();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('get -o json returns the stored object; a missing one is NotFound', async () => {
    const ns = await kubectl('get', 'namespace', 'dify', '-o', 'json');
    expect(ns.code).toBe(0);
    expect(JSON.parse(ns.stdout)).toMatchObject({
      kind: 'Namespace',
      metadata: { name: 'dify' },
      status: { phase: 'Active' },
    });
    const missing = await kubectl('get', 'deployment', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(
      'Error from server (NotFound): deployments.apps "nope" not found',
    );
  });

  it('apply -f creates, then updates through a strategic merge patch; strict and invalid manifests fail like a real server', async () => {
    const created = await kubectl('apply', '-f', manifest('web', deployment('web', '1')));
    expect(created).toMatchObject({ code: 0, stdout: 'deployment.apps/web created\n' });
    const configured = await kubectl('apply', '-f', manifest('web', deployment('web', '2')));
    expect(configured).toMatchObject({ code: 0, stdout: 'deployment.apps/web configured\n' });
    const got = JSON.parse((await kubectl('get', 'deploy', 'web', '-o', 'json')).stdout);
    expect(got.metadata.generation).toBe(2);
    expect(got.spec.template.spec.containers[0].env).toEqual([{ name: 'V', value: '2' }]);
    expect(got.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain(
      '"value":"2"',
    );
    const unchanged = await kubectl('apply', '-f', manifest('web', deployment('web', '2')));
    expect(unchanged.stdout).toBe('deployment.apps/web unchanged\n');

    const strict = await kubectl(
      'apply',
      '-f',
      manifest('strict', deployment('strict', '1', { serviceName: 'x' })),
    );
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.serviceName"',
    );
    const dangling = deployment('dify-api', '1');
    (dangling.spec.template.spec.containers[0] as Loose).volumeMounts = [
      { name: 'dify-api-storage', mountPath: '/app/api/storage' },
    ];
    const invalid = await kubectl('apply', '-f', manifest('dangling', dangling));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain(
      'The Deployment "dify-api" is invalid: spec.template.spec.containers[0].volumeMounts[0].name: Not found: "dify-api-storage"',
    );
  });

  it('scale uses the scale subresource; rollout status sees the simulated rollout', async () => {
    const scaled = await kubectl('scale', 'deployment', 'web', '--replicas=3');
    expect(scaled).toMatchObject({ code: 0, stdout: 'deployment.apps/web scaled\n' });
    const rollout = await kubectl('rollout', 'status', 'deployment/web', '--timeout=15s');
    expect(rollout.stdout).toContain('deployment "web" successfully rolled out');
    const pods = await kubectl('get', 'pods', '-l', 'app=web', '-o', 'name');
    expect(pods.stdout.trim().split('\n')).toHaveLength(3);
    // Server-side printing (Table) as kubectl get shows it.
    const table = await kubectl('get', 'deployment', 'web');
    expect(table.stdout).toMatch(
      /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+3\/3\s+3\s+3\s+\d+s\n$/,
    );
    const wide = await kubectl('get', 'pods', '-l', 'app=web', '-o', 'wide');
    expect(wide.stdout.split('\n')[0]).toMatch(
      /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE$/,
    );
    expect(wide.stdout).toMatch(
      /web-\w+-\w{5}\s+1\/1\s+Running\s+0\s+\d+s\s+127\.0\.0\.1\s+node-1/,
    );
    // Events recorded by the simulated controllers, filtered like kubectl describe does.
    const events = await kubectl(
      'get',
      'events',
      '--field-selector',
      'involvedObject.kind=Deployment,involvedObject.name=web',
    );
    expect(events.stdout).toMatch(
      /Normal\s+ScalingReplicaSet\s+deployment\/web\s+Scaled up replica set web-\w+ from 1 to 3/,
    );
    // Imperative generators send protobuf: namespaces, configmaps and secrets are decoded, others refused.
    expect(
      await kubectl(
        'create',
        'configmap',
        'imperative',
        '--from-literal=a=b',
        '--from-literal=c=d',
      ),
    ).toMatchObject({
      code: 0,
      stdout: 'configmap/imperative created\n',
    });
    expect(server.store.get('configmaps', 'dify', 'imperative')?.data).toEqual({ a: 'b', c: 'd' });
    expect(
      (await kubectl('create', 'secret', 'generic', 's3', '--from-literal=key=v@l')).code,
    ).toBe(0);
    expect(server.store.get('secrets', 'dify', 's3')).toMatchObject({
      type: 'Opaque',
      data: { key: Buffer.from('v@l').toString('base64') },
    });
    expect((await kubectl('create', 'namespace', 'imperative')).code).toBe(0);
    expect(server.store.get('namespaces', undefined, 'imperative')?.status?.phase).toBe('Active');
    const proto = await kubectl('create', 'deployment', 'imperative', '--image=busybox');
    expect(proto.code).toBe(1);
    expect(proto.stderr).toContain('the body of the request was in an unknown format');
  });

  it('delete --cascade=orphan keeps the pods; the default cascade removes them', async () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'dify-worker' },
      spec: {
        replicas: 2,
        serviceName: 'dify-worker',
        selector: { matchLabels: { app: 'dify-worker' } },
        template: {
          metadata: { labels: { app: 'dify-worker' } },
          spec: { containers: [{ name: 'worker', image: 'busybox:1.36' }] },
        },
      },
    };
    expect((await kubectl('apply', '-f', manifest('sts', sts))).code).toBe(0);
    await waitFor(
      '2 ready',
      () => server.store.get('statefulsets', 'dify', 'dify-worker')?.status?.readyReplicas === 2,
    );
    const orphan = await kubectl('delete', 'statefulset', 'dify-worker', '--cascade=orphan');
    expect(orphan).toMatchObject({ code: 0, stdout: 'statefulset.apps "dify-worker" deleted\n' });
    const left = JSON.parse(
      (await kubectl('get', 'pods', '-l', 'app=dify-worker', '-o', 'json')).stdout,
    );
    expect(left.items.map((p: Loose) => [p.metadata.name, p.metadata.ownerReferences])).toEqual([
      ['dify-worker-0', undefined],
      ['dify-worker-1', undefined],
    ]);
    const removed = await kubectl('delete', 'deployment', 'web');
    expect(removed).toMatchObject({ code: 0, stdout: 'deployment.apps "web" deleted\n' });
    await waitFor('web pods gone', () =>
      server.store.list('pods', 'dify').every((p) => p.metadata.labels?.app !== 'web'),
    );
    const fg = await kubectl('delete', 'pod', 'dify-worker-0', '--cascade=foreground');
    expect(fg.code).toBe(0);
    expect(server.store.get('pods', 'dify', 'dify-worker-0')).toBeUndefined();
  });

  it('logs shows the container output; rollout restart replaces StatefulSet pods', async () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'dify-api' },
      spec: {
        replicas: 1,
        serviceName: 'dify-api',
        selector: { matchLabels: { app: 'dify-api' } },
        template: {
          metadata: { labels: { app: 'dify-api' } },
          spec: { containers: [{ name: 'api', image: 'example/logger:1' }] },
        },
      },
    };
    expect((await kubectl('apply', '-f', manifest('api', sts))).code).toBe(0);
    await waitFor(
      'ready',
      () => server.store.get('statefulsets', 'dify', 'dify-api')?.status?.readyReplicas === 1,
    );
    await waitFor('log line', () => sim.logs('dify', 'dify-api-0').length > 0);
    const logs = await kubectl('logs', 'dify-api-0');
    expect(logs).toMatchObject({ code: 0, stdout: 'hello from dify-api-0\n' });
    const before = server.store.get('pods', 'dify', 'dify-api-0')!.metadata.uid;
    const restart = await kubectl('rollout', 'restart', 'statefulset/dify-api');
    expect(restart).toMatchObject({ code: 0, stdout: 'statefulset.apps/dify-api restarted\n' });
    const status = await kubectl('rollout', 'status', 'statefulset/dify-api', '--timeout=15s');
    expect(status.stdout).toContain(
      'partitioned roll out complete: 1 new pods have been updated...',
    );
    const after = server.store.get('pods', 'dify', 'dify-api-0')!;
    expect(after.metadata.uid).not.toBe(before);
    expect(after.metadata.labels?.['controller-revision-hash']).toBe(
      server.store.get('statefulsets', 'dify', 'dify-api')!.status?.updateRevision,
    );
  });
  it('apply accepts StorageClass, PersistentVolume, claim and a Secret with line-wrapped base64', async () => {
    const wrapped = Buffer.from('y'.repeat(100))
      .toString('base64')
      .replace(/(.{76})/g, '$1\n');
    const file = join(dir, 'storage.yaml');
    writeFileSync(
      file,
      [
        {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: { name: 'local-storage' },
          provisioner: 'kubernetes.io/no-provisioner',
          volumeBindingMode: 'WaitForFirstConsumer',
        },
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: 'dify-local' },
          spec: {
            capacity: { storage: '10Gi' },
            accessModes: ['ReadWriteOnce'],
            storageClassName: 'local-storage',
            local: { path: '/mnt/disks/dify' },
            nodeAffinity: {
              required: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      { key: 'kubernetes.io/hostname', operator: 'In', values: ['node-1'] },
                    ],
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'dify-storage', namespace: 'dify' },
          spec: {
            storageClassName: 'local-storage',
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: '5Gi' } },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'wrapped', namespace: 'dify' },
          data: { K: wrapped },
        },
      ]
        .map((o) => YAML.stringify(o))
        .join('---\n'),
    );
    const applied = await kubectl('apply', '-f', file);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('storageclass.storage.k8s.io/local-storage created');
    expect(applied.stdout).toContain('persistentvolume/dify-local created');
    expect(applied.stdout).toContain('persistentvolumeclaim/dify-storage created');
    expect(applied.stdout).toContain('secret/wrapped created');
    const again = await kubectl('apply', '-f', file);
    expect(again.stdout).toContain('persistentvolume/dify-local unchanged');
    const pv = await kubectl('get', 'pv', 'dify-local', '-o', 'json');
    expect(JSON.parse(pv.stdout).status.phase).toBe('Available');
  });
});
