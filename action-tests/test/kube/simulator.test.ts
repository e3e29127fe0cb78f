import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeApiServer } from '../../src/kube/api-server.js';
import { startFakeApiServer } from '../../src/kube/api-server.js';
import type { ContainerRuntime, Simulator } from '../../src/kube/simulator.js';
import { startSimulator } from '../../src/kube/simulator.js';
import type { KubeObject } from '../../src/kube/store.js';
import { processAlive, waitFor } from './helpers.js';
import type { Loose } from '../../src/kube/json.js';

/** A one-line HTTP server reporting its env and cwd; it writes hello.txt into ./storage at start. */
const echoServer: ContainerRuntime = async (ctx) => {
  const port = await ctx.freePort();
  const script = `
    const fs = require('fs');
    if (fs.existsSync('storage')) fs.writeFileSync('storage/hello.txt', 'hi from ' + process.env.HOSTNAME_HINT);
    require('http').createServer((q, s) => s.end(JSON.stringify({ env: process.env, cwd: process.cwd() })))
      .listen(Number(process.env.PORT), '127.0.0.1');
    process.on('SIGTERM', () => process.exit(0));`;
  return {
    argv: [process.execPath, '-e', script],
    env: { PORT: String(port), HOSTNAME_HINT: ctx.podName },
    ready: async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/`)).ok;
      } catch {
        return false;
      }
    },
  };
};

/** Exits 1 unless MODE=good: a container whose health depends on a ConfigMap value. */
const picky: ContainerRuntime = async (ctx) => {
  const port = await ctx.freePort();
  const script = `if (process.env.MODE !== 'good') { console.error('bad mode ' + process.env.MODE); process.exit(1); }
    require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');`;
  return {
    argv: [process.execPath, '-e', script],
    env: { PORT: String(port) },
    ready: async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => null))?.ok === true,
  };
};

const crasher: ContainerRuntime = () => ({
  argv: [
    process.execPath,
    '-e',
    "console.error('starting'); console.error('S3 HeadBucket failed: connect ECONNREFUSED 127.0.0.1:1'); process.exit(3)",
  ],
});

describe('pod simulator', () => {
  let server: FakeApiServer;
  let sim: Simulator;
  let root: string;
  const ns = 'dify';

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sim-test-'));
    server = await startFakeApiServer({ gcDelayMs: 10 });
    sim = startSimulator({
      server,
      nodes: { 'node-a': join(root, 'node-a'), 'node-b': join(root, 'node-b') },
      runtimes: {
        'example/echo:*': echoServer,
        'example/crash:*': crasher,
        'example/picky:*': picky,
      },
      timeScale: 0.01,
      tickMs: 20,
      readinessPeriodMs: 50,
    });
    const api = server.api;
    api.create('configmaps', ns, {
      metadata: { name: 'shared' },
      data: { STORAGE_TYPE: 'opendal', OPENDAL_SCHEME: 'fs' },
    });
    api.create('secrets', ns, {
      metadata: { name: 'creds' },
      stringData: { S3_SECRET_KEY: 's3cr3t' },
    });
  });

  afterAll(async () => {
    await sim?.stop();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const get = (resource: string, name: string): KubeObject | undefined =>
    server.store.get(resource, ns, name);
  const podsOf = (app: string): KubeObject[] =>
    server.store.list('pods', ns).filter((p) => p.metadata.labels?.app === app);

  it('runs StatefulSet pods <name>-<ordinal> on the pinned node with hostPath, env and working dir resolved', async () => {
    server.api.create('statefulsets', ns, {
      metadata: { name: 'dify-api' },
      spec: {
        replicas: 1,
        serviceName: 'dify-api',
        selector: { matchLabels: { app: 'dify-api' } },
        template: {
          metadata: { labels: { app: 'dify-api' } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': 'node-b' },
            containers: [
              {
                name: 'api',
                image: 'example/echo:1.0',
                workingDir: '/app/api',
                envFrom: [{ configMapRef: { name: 'shared' } }],
                env: [
                  { name: 'LITERAL', value: 'x' },
                  { name: 'EXPANDED', value: '$(LITERAL)-y' },
                  {
                    name: 'SECRET',
                    valueFrom: { secretKeyRef: { name: 'creds', key: 'S3_SECRET_KEY' } },
                  },
                  {
                    name: 'MISSING_OPTIONAL',
                    valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } },
                  },
                  { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                ],
                volumeMounts: [{ name: 'storage', mountPath: '/app/api/storage' }],
              },
            ],
            volumes: [
              {
                name: 'storage',
                hostPath: { path: '/data/dify/storage', type: 'DirectoryOrCreate' },
              },
            ],
          },
        },
      },
    });
    const sts = await waitFor('sts ready', () => {
      const s = get('statefulsets', 'dify-api');
      return s?.status?.readyReplicas === 1 && s.status.currentRevision === s.status.updateRevision
        ? s
        : undefined;
    });
    expect(sts.status).toMatchObject({
      observedGeneration: 1,
      replicas: 1,
      availableReplicas: 1,
      updatedReplicas: 1,
    });
    const pod = get('pods', 'dify-api-0')!;
    expect(pod.spec?.nodeName).toBe('node-b');
    expect(pod.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'StatefulSet', name: 'dify-api', controller: true }),
    ]);
    expect(pod.status).toMatchObject({
      phase: 'Running',
      containerStatuses: [expect.objectContaining({ ready: true, restartCount: 0 })],
    });
    // The process wrote through the mount into the node's directory.
    const file = join(root, 'node-b', 'data/dify/storage/hello.txt');
    await waitFor('hello.txt', () => existsSync(file));
    expect(readFileSync(file, 'utf8')).toBe('hi from dify-api-0');
    // Env as the process saw it (the runtime's port is in its own env).
    const proc = sim.processes().find((p) => p.pod === 'dify-api-0')!;
    expect(proc).toBeDefined();
    const env = readFileSync(`/proc/${proc.pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
    const envMap = Object.fromEntries(env);
    expect(envMap).toMatchObject({
      STORAGE_TYPE: 'opendal',
      OPENDAL_SCHEME: 'fs',
      LITERAL: 'x',
      EXPANDED: 'x-y',
      SECRET: 's3cr3t',
      POD: 'dify-api-0',
    });
    expect(envMap).not.toHaveProperty('MISSING_OPTIONAL');
    const res = await fetch(`http://127.0.0.1:${envMap.PORT}/`);
    const seen = (await res.json()) as { cwd: string };
    expect(seen.cwd.endsWith('/rootfs/api/app/api')).toBe(true);
  });

  it('reports CrashLoopBackOff with the exit code and stderr, and ProgressDeadlineExceeded on the Deployment', async () => {
    server.api.create('deployments', ns, {
      metadata: { name: 'crashy' },
      spec: {
        replicas: 1,
        progressDeadlineSeconds: 60,
        selector: { matchLabels: { app: 'crashy' } },
        template: {
          metadata: { labels: { app: 'crashy' } },
          spec: { containers: [{ name: 'api', image: 'example/crash:1' }] },
        },
      },
    });
    const pod = await waitFor('crash loop', () => {
      const p = podsOf('crashy')[0];
      const cs = p?.status?.containerStatuses?.[0];
      return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && cs.restartCount >= 2
        ? p
        : undefined;
    });
    expect(pod.metadata.name).toMatch(
      /^crashy-[bcdfghjklmnpqrstvwxz2456789]+-[bcdfghjklmnpqrstvwxz2456789]{5}$/,
    );
    const cs = pod.status!.containerStatuses[0];
    expect(cs.lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(cs.lastState.terminated.message).toContain('S3 HeadBucket failed');
    expect(cs.state.waiting.message).toMatch(
      /^back-off \d+m?\d*s restarting failed container=api pod=crashy-/,
    );
    const backoff = server.store
      .list('events', ns)
      .find((e) => e.reason === 'BackOff' && e.involvedObject?.name === pod.metadata.name);
    expect(backoff).toMatchObject({
      type: 'Warning',
      source: { component: 'kubelet' },
      involvedObject: { kind: 'Pod', uid: pod.metadata.uid },
      message: `Back-off restarting failed container api in pod ${pod.metadata.name}_dify(${pod.metadata.uid})`,
    });
    expect(backoff!.count).toBeGreaterThanOrEqual(2);
    const dep = await waitFor('deadline exceeded', () => {
      const d = get('deployments', 'crashy');
      return d?.status?.conditions?.find(
        (c: Loose) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
      )
        ? d
        : undefined;
    });
    expect(dep.status).toMatchObject({
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      unavailableReplicas: 1,
    });
    expect(dep.status!.conditions).toContainEqual(
      expect.objectContaining({
        type: 'Available',
        status: 'False',
        reason: 'MinimumReplicasUnavailable',
      }),
    );
    expect(dep.status!.conditions).toContainEqual(
      expect.objectContaining({
        type: 'Progressing',
        status: 'False',
        message: expect.stringMatching(/^ReplicaSet "crashy-\w+" has timed out progressing\.$/),
      }),
    );
  });

  it('stops the processes when scaled to zero and deletes the pods', async () => {
    const before = await waitFor('dify-api process', () =>
      sim.processes().find((p) => p.pod === 'dify-api-0'),
    );
    expect(processAlive(before.pid)).toBe(true);
    server.api.patch(
      'statefulsets',
      ns,
      'dify-api',
      'application/merge-patch+json',
      JSON.stringify({ spec: { replicas: 2 } }),
    );
    await waitFor('2 ready', () => get('statefulsets', 'dify-api')?.status?.readyReplicas === 2);
    const pids = sim
      .processes()
      .filter((p) => p.pod.startsWith('dify-api-'))
      .map((p) => p.pid);
    expect(pids).toHaveLength(2);
    server.api.replaceScale('statefulsets', ns, 'dify-api', { spec: { replicas: 0 } });
    await waitFor('pods gone', () => podsOf('dify-api').length === 0);
    await waitFor('processes gone', () => pids.every((pid) => !processAlive(pid)));
    const sts = await waitFor('status 0', () => {
      const s = get('statefulsets', 'dify-api');
      return s?.status?.replicas === 0 ? s : undefined;
    });
    expect(sts.status).not.toHaveProperty('readyReplicas');
  });

  it('keeps pods and processes running after an orphan delete, and a re-created StatefulSet adopts them', async () => {
    server.api.patch(
      'statefulsets',
      ns,
      'dify-api',
      'application/merge-patch+json',
      JSON.stringify({ spec: { replicas: 1 } }),
    );
    const proc = await waitFor('running again', () =>
      sim.processes().find((p) => p.pod === 'dify-api-0'),
    );
    await waitFor('ready', () => get('statefulsets', 'dify-api')?.status?.readyReplicas === 1);
    const sts = get('statefulsets', 'dify-api')!;
    server.api.delete('statefulsets', ns, 'dify-api', { propagationPolicy: 'Orphan' });
    await waitFor('sts gone', () => !get('statefulsets', 'dify-api'));
    const orphan = await waitFor('owner refs stripped', () => {
      const p = get('pods', 'dify-api-0');
      return p && !p.metadata.ownerReferences ? p : undefined;
    });
    expect(orphan.status?.phase).toBe('Running');
    await new Promise((r) => setTimeout(r, 200));
    expect(processAlive(proc.pid)).toBe(true);
    expect(get('pods', 'dify-api-0')).toBeDefined();
    // Rollback: the same StatefulSet again re-adopts the orphan without restarting it.
    const spec = { ...sts.spec };
    server.api.create('statefulsets', ns, { metadata: { name: 'dify-api' }, spec });
    const adopted = await waitFor('adopted', () => {
      const p = get('pods', 'dify-api-0');
      return p?.metadata.ownerReferences?.[0]?.controller ? p : undefined;
    });
    expect(adopted.metadata.uid).toBe(orphan.metadata.uid);
    expect(processAlive(proc.pid)).toBe(true);
    // Background delete: the GC removes the pod, the kubelet stops the process.
    server.api.delete('statefulsets', ns, 'dify-api', {});
    await waitFor('pod collected', () => !get('pods', 'dify-api-0'));
    await waitFor('process stopped', () => !processAlive(proc.pid));
  });

  it('names Deployment pods after a hashed ReplicaSet and rolls them on a template change', async () => {
    server.api.create('deployments', ns, {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              { name: 'web', image: 'example/echo:1', env: [{ name: 'V', value: '1' }] },
            ],
          },
        },
      },
    });
    const done = (gen: number) => () => {
      const d = get('deployments', 'web');
      const prog = d?.status?.conditions?.find((c: Loose) => c.type === 'Progressing');
      return d?.status?.observedGeneration === gen &&
        d.status.availableReplicas === 2 &&
        d.status.replicas === 2 &&
        prog?.reason === 'NewReplicaSetAvailable'
        ? d
        : undefined;
    };
    const d1 = await waitFor('rolled out', done(1));
    expect(d1.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    expect(d1.status).toMatchObject({ updatedReplicas: 2, readyReplicas: 2 });
    const rs1 = server.store
      .list('replicasets', ns)
      .filter((r) => r.metadata.ownerReferences?.[0]?.name === 'web');
    expect(rs1).toHaveLength(1);
    const rsName = rs1[0]!.metadata.name!;
    expect(rsName).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
    const pods1 = podsOf('web');
    expect(pods1.map((p) => p.metadata.name)).toEqual([
      expect.stringMatching(new RegExp(`^${rsName}-\\w{5}$`)),
      expect.stringMatching(new RegExp(`^${rsName}-\\w{5}$`)),
    ]);
    expect(pods1[0]!.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ReplicaSet', name: rsName, controller: true }),
    ]);
    const oldPids = sim
      .processes()
      .filter((p) => p.pod.startsWith(rsName))
      .map((p) => p.pid);
    server.api.patch(
      'deployments',
      ns,
      'web',
      'application/strategic-merge-patch+json',
      JSON.stringify({
        spec: {
          template: { spec: { containers: [{ name: 'web', env: [{ name: 'V', value: '2' }] }] } },
        },
      }),
    );
    const d2 = await waitFor('rolled out again', () => {
      const d = done(2)();
      return d && podsOf('web').every((p) => !p.metadata.name!.startsWith(rsName)) ? d : undefined;
    });
    expect(d2.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    await waitFor('old processes stopped', () => oldPids.every((pid) => !processAlive(pid)));
  });

  it('leaves pods pinned to an unknown node Pending/Unschedulable and reports missing config refs', async () => {
    server.api.create('pods', ns, {
      metadata: { name: 'lost' },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': 'node-z' },
        containers: [{ name: 'c', image: 'busybox' }],
      },
    });
    const lost = await waitFor('unschedulable', () => {
      const p = get('pods', 'lost');
      return p?.status?.conditions?.[0]?.reason === 'Unschedulable' ? p : undefined;
    });
    expect(lost.status).toMatchObject({
      phase: 'Pending',
      conditions: [expect.objectContaining({ type: 'PodScheduled', status: 'False' })],
    });
    expect(lost.spec?.nodeName).toBeUndefined();
    server.api.create('pods', ns, {
      metadata: { name: 'noconfig' },
      spec: {
        containers: [
          {
            name: 'c',
            image: 'busybox',
            env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'shared', key: 'NOPE' } } }],
          },
        ],
      },
    });
    const waiting = await waitFor(
      'config error',
      () => get('pods', 'noconfig')?.status?.containerStatuses?.[0]?.state?.waiting,
    );
    expect(waiting).toEqual({
      reason: 'CreateContainerConfigError',
      message: "couldn't find key NOPE in ConfigMap dify/shared",
    });
    expect(get('pods', 'noconfig')!.spec?.nodeName).toBe('node-a');
    // Fixing the ConfigMap lets the kubelet start the container.
    server.api.patch(
      'configmaps',
      ns,
      'shared',
      'application/merge-patch+json',
      JSON.stringify({ data: { NOPE: 'yes' } }),
    );
    await waitFor(
      'running',
      () => get('pods', 'noconfig')?.status?.containerStatuses?.[0]?.ready === true,
    );
  });

  it('reports a StatefulSet pod template with a dangling volumeMount as FailedCreate (the API accepts it)', async () => {
    server.api.create('statefulsets', ns, {
      metadata: { name: 'dangling' },
      spec: {
        serviceName: 'dangling',
        selector: { matchLabels: { app: 'dangling' } },
        template: {
          metadata: { labels: { app: 'dangling' } },
          spec: {
            containers: [
              { name: 'c', image: 'busybox', volumeMounts: [{ name: 'gone', mountPath: '/x' }] },
            ],
          },
        },
      },
    });
    const ev = await waitFor('FailedCreate', () =>
      sim.events().find((e) => e.object === 'StatefulSet/dangling'),
    );
    expect(ev.reason).toBe('FailedCreate');
    expect(ev.message).toContain(
      'Pod "dangling-0" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "gone"',
    );
  });

  it('re-resolves env at each restart, so fixing the ConfigMap heals a crash loop', async () => {
    server.api.create('configmaps', ns, { metadata: { name: 'mode' }, data: { MODE: 'bad' } });
    server.api.create('deployments', ns, {
      metadata: { name: 'picky' },
      spec: {
        selector: { matchLabels: { app: 'picky' } },
        template: {
          metadata: { labels: { app: 'picky' } },
          spec: {
            containers: [
              {
                name: 'c',
                image: 'example/picky:1',
                env: [
                  { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'mode', key: 'MODE' } } },
                ],
              },
            ],
          },
        },
      },
    });
    const crashing = await waitFor(
      'crash loop',
      () => podsOf('picky')[0]?.status?.containerStatuses?.[0]?.lastState?.terminated,
    );
    expect(crashing.message).toBe('bad mode bad');
    server.api.replace('configmaps', ns, 'mode', {
      metadata: { name: 'mode' },
      data: { MODE: 'good' },
    });
    await waitFor(
      'healed',
      () => get('deployments', 'picky')?.status?.availableReplicas === 1,
      15_000,
    );
    const pod = podsOf('picky')[0]!;
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({
      ready: true,
      state: { running: expect.any(Object) },
    });
    expect(sim.logs(ns, pod.metadata.name!, 'c')).toContain('bad mode bad');
    expect(server.api.podLogs(ns, pod.metadata.name!, undefined, 1)).toBe('bad mode bad\n');
  });

  it('Recreate stops every old pod before the first new one exists; namespace deletion removes everything', async () => {
    server.api.create('namespaces', undefined, { metadata: { name: 'recreate' } });
    const tmpl = (v: string) => ({
      metadata: { labels: { app: 'rec' } },
      spec: {
        containers: [{ name: 'c', image: 'example/echo:1', env: [{ name: 'V', value: v }] }],
      },
    });
    server.api.create('deployments', 'recreate', {
      metadata: { name: 'rec' },
      spec: {
        replicas: 2,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { app: 'rec' } },
        template: tmpl('1'),
      },
    });
    const ready = (gen: number) => () => {
      const d = server.store.get('deployments', 'recreate', 'rec');
      return (
        d?.status?.observedGeneration === gen &&
        d.status.availableReplicas === 2 &&
        d.status.replicas === 2
      );
    };
    await waitFor('v1 ready', ready(1));
    const oldNames = new Set(server.store.list('pods', 'recreate').map((p) => p.metadata.name));
    const overlap: number[] = [];
    const unsubscribe = server.store.subscribe((e) => {
      if (
        e.type === 'ADDED' &&
        e.resource.kind === 'Pod' &&
        !oldNames.has(e.object.metadata.name)
      ) {
        overlap.push(
          server.store.list('pods', 'recreate').filter((p) => oldNames.has(p.metadata.name)).length,
        );
      }
    });
    server.api.patch(
      'deployments',
      'recreate',
      'rec',
      'application/merge-patch+json',
      JSON.stringify({ spec: { template: tmpl('2') } }),
    );
    await waitFor('v2 ready', ready(2));
    unsubscribe();
    expect(overlap).toEqual([0, 0]);

    const pids = sim
      .processes()
      .filter((p) => p.namespace === 'recreate')
      .map((p) => p.pid);
    expect(pids).toHaveLength(2);
    const res = server.api.delete('namespaces', undefined, 'recreate');
    expect(res.body).toMatchObject({ status: { phase: 'Terminating' } });
    await waitFor('namespace gone', () => !server.store.get('namespaces', undefined, 'recreate'));
    expect(server.store.listAll('recreate')).toEqual([]);
    await waitFor('processes stopped', () => pids.every((pid) => !processAlive(pid)));
  });

  it('Foreground delete keeps the StatefulSet until its pods have stopped', async () => {
    server.api.create('statefulsets', ns, {
      metadata: { name: 'fg' },
      spec: {
        replicas: 2,
        podManagementPolicy: 'Parallel',
        serviceName: 'fg',
        selector: { matchLabels: { app: 'fg' } },
        template: {
          metadata: { labels: { app: 'fg' } },
          spec: { containers: [{ name: 'c', image: 'example/echo:1' }] },
        },
      },
    });
    await waitFor('2 ready', () => get('statefulsets', 'fg')?.status?.readyReplicas === 2);
    const pids = sim
      .processes()
      .filter((p) => p.pod.startsWith('fg-'))
      .map((p) => p.pid);
    expect(pids).toHaveLength(2);
    const res = server.api.delete('statefulsets', ns, 'fg', { propagationPolicy: 'Foreground' });
    expect(res.code).toBe(200);
    expect((res.body as KubeObject).metadata).toMatchObject({
      finalizers: ['foregroundDeletion'],
      deletionTimestamp: expect.any(String),
    });
    const seen: string[] = [];
    const unsubscribe = server.store.subscribe((e) => {
      if (e.type === 'DELETED') seen.push(`${e.resource.kind}/${e.object.metadata.name}`);
    });
    await waitFor('sts gone', () => !get('statefulsets', 'fg'));
    unsubscribe();
    expect(seen[seen.length - 1]).toBe('StatefulSet/fg');
    expect(seen.filter((x) => x.startsWith('Pod/fg-')).sort()).toEqual(['Pod/fg-0', 'Pod/fg-1']);
    expect(pids.filter(processAlive)).toEqual([]);
  });

  it('stop() kills every process', async () => {
    const pids = sim.processes().map((p) => p.pid);
    expect(pids.length).toBeGreaterThan(0);
    await sim.stop();
    expect(pids.filter(processAlive)).toEqual([]);
  });
});
