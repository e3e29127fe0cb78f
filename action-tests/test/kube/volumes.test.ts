import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeApiServer } from '../../src/kube/api-server.js';
import { startFakeApiServer } from '../../src/kube/api-server.js';
import type { ContainerRuntime, Simulator } from '../../src/kube/simulator.js';
import { startSimulator } from '../../src/kube/simulator.js';
import type { Loose } from '../../src/kube/json.js';
import { clients, expectStatus, waitFor } from './helpers.js';

/** Writes `<pod name>` into `$OUT` (an in-container path) and stays up. */
const writer: ContainerRuntime = (ctx) => ({
  argv: [
    process.execPath,
    '-e',
    `require('fs').writeFileSync(process.env.OUT_FILE, process.env.POD + ':' + (process.env.SECRET_VALUE ?? ''));
     setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));`,
  ],
  env: { OUT_FILE: ctx.containerPath(String(ctx.env.OUT ?? '/data/out.txt')), POD: ctx.podName },
});

const localPv = (name: string, node: string, path: string, extra: Record<string, Loose> = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: {
    capacity: { storage: '10Gi' },
    accessModes: ['ReadWriteOnce'],
    storageClassName: 'local-storage',
    local: { path },
    nodeAffinity: {
      required: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
        ],
      },
    },
    ...extra,
  },
});

const claim = (name: string, spec: Record<string, Loose>) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, ...spec },
});

const podWithClaim = (name: string, claimName: string, mount: Record<string, Loose> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: {
    containers: [
      {
        name: 'main',
        image: 'writer:1',
        env: [{ name: 'OUT', value: '/data/out.txt' }],
        volumeMounts: [{ name: 'data', mountPath: '/data', ...mount }],
      },
    ],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
  },
});

describe('fake API: PersistentVolumes, claims, storage classes; pod simulator mounts them', () => {
  let server: FakeApiServer;
  let sim: Simulator;
  let root: string;
  let c: ReturnType<typeof clients>;
  const ns = 'dify';
  const node = (n: string) => join(root, n);
  const createClass = (name: string, provisioner: string) =>
    c.objects.create({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name },
      provisioner,
      volumeBindingMode: 'WaitForFirstConsumer',
    } as never);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'volumes-test-'));
    server = await startFakeApiServer({ gcDelayMs: 10 });
    c = clients(server);
    sim = startSimulator({
      server,
      nodes: { 'node-1': node('node-1'), 'node-2': node('node-2') },
      runtimes: { 'writer:*': writer },
      stateDir: join(root, 'state'),
      nfsDir: join(root, 'nfs'),
      timeScale: 0.01,
      tickMs: 50,
    });
    await createClass('local-storage', 'kubernetes.io/no-provisioner');
  }, 20_000);

  afterAll(async () => {
    await sim?.stop();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves the three kinds in discovery (kubectl and KubernetesObjectApi resolve them)', async () => {
    const core = (await (
      await fetch(`${server.httpUrl}/api/v1`, {
        headers: { authorization: `Bearer ${server.token}` },
      })
    ).json()) as { resources: Array<{ name: string; namespaced: boolean }> };
    expect(core.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'persistentvolumes', namespaced: false }),
        expect.objectContaining({ name: 'persistentvolumeclaims', namespaced: true }),
      ]),
    );
    const sc = await c.objects.read({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'local-storage' },
    });
    expect(sc).toMatchObject({
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
    });
  });

  it('rejects a local PV without node affinity and a claim without a size, as the real validation', async () => {
    const bad = localPv('no-affinity', 'node-1', '/mnt/x');
    delete (bad.spec as Record<string, unknown>).nodeAffinity;
    const body = await expectStatus(
      c.core.createPersistentVolume({ body: bad as never }),
      422,
      'Invalid',
    );
    expect(body.message).toContain(
      'spec.nodeAffinity: Required value: Local volume requires node affinity',
    );
    const noSize = claim('no-size', { resources: {} });
    const b2 = await expectStatus(
      c.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: noSize as never }),
      422,
      'Invalid',
    );
    expect(b2.message).toContain('spec.resources[storage]: Required value');
  });

  it('binds a WaitForFirstConsumer claim only with its pod, and runs the pod on the PV node', async () => {
    mkdirSync(join(node('node-2'), 'mnt/disks/dify'), { recursive: true });
    await c.core.createPersistentVolume({
      body: localPv('dify-local', 'node-2', '/mnt/disks/dify') as never,
    });
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: claim('dify-storage', { storageClassName: 'local-storage' }) as never,
    });
    await waitFor(
      'PV Available',
      async () =>
        (await c.core.readPersistentVolume({ name: 'dify-local' })).status?.phase === 'Available',
    );
    await new Promise((r) => setTimeout(r, 200));
    const pending = await c.core.readNamespacedPersistentVolumeClaim({
      name: 'dify-storage',
      namespace: ns,
    });
    expect(pending.status?.phase).toBe('Pending');

    await c.core.createNamespacedPod({
      namespace: ns,
      body: podWithClaim('api', 'dify-storage') as never,
    });
    const pod = await waitFor('pod scheduled', async () => {
      const p = await c.core.readNamespacedPod({ name: 'api', namespace: ns });
      return p.spec?.nodeName ? p : undefined;
    });
    expect(pod.spec?.nodeName).toBe('node-2');
    const bound = await c.core.readNamespacedPersistentVolumeClaim({
      name: 'dify-storage',
      namespace: ns,
    });
    expect(bound.spec?.volumeName).toBe('dify-local');
    expect(bound.status).toMatchObject({ phase: 'Bound', capacity: { storage: '10Gi' } });
    expect(bound.metadata?.annotations?.['volume.kubernetes.io/selected-node']).toBe('node-2');
    const pv = await c.core.readPersistentVolume({ name: 'dify-local' });
    expect(pv.spec?.claimRef).toMatchObject({ namespace: ns, name: 'dify-storage' });
    expect(pv.status?.phase).toBe('Bound');
    const file = join(node('node-2'), 'mnt/disks/dify/out.txt');
    await waitFor('file on the PV path', () => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    });
    expect(readFileSync(file, 'utf8')).toBe('api:');
  }, 20_000);

  it('refuses a pod pinned away from its local PV (volume node affinity conflict)', async () => {
    const p = podWithClaim('pinned-wrong', 'dify-storage');
    (p.spec as Record<string, Loose>).nodeSelector = { 'kubernetes.io/hostname': 'node-1' };
    await c.core.createNamespacedPod({ namespace: ns, body: p as never });
    const cond = await waitFor('unschedulable', async () => {
      const got = await c.core.readNamespacedPod({ name: 'pinned-wrong', namespace: ns });
      return got.status?.conditions?.find((x) => x.reason === 'Unschedulable');
    });
    expect(cond.message).toContain('1 node(s) had volume node affinity conflict');
  });

  it('binds statically by volumeName and reports a class mismatch instead of binding', async () => {
    mkdirSync(join(node('node-1'), 'mnt/static'), { recursive: true });
    await c.core.createPersistentVolume({
      body: localPv('static-pv', 'node-1', '/mnt/static', { storageClassName: '' }) as never,
    });
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: claim('by-name', { volumeName: 'static-pv', storageClassName: '' }) as never,
    });
    await waitFor(
      'bound by name',
      async () =>
        (await c.core.readNamespacedPersistentVolumeClaim({ name: 'by-name', namespace: ns }))
          .status?.phase === 'Bound',
    );
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: claim('wrong-class', { volumeName: 'dify-local', storageClassName: 'other' }) as never,
    });
    await waitFor('VolumeMismatch event', () =>
      sim.events().find((e) => e.reason === 'VolumeMismatch' && e.message.includes('dify-local')),
    );
    const got = await c.core.readNamespacedPersistentVolumeClaim({
      name: 'wrong-class',
      namespace: ns,
    });
    expect(got.status?.phase).toBe('Pending');
  });

  it('mounts an NFS PV as one directory on every node and honours subPath', async () => {
    await c.core.createPersistentVolume({
      body: {
        metadata: { name: 'nfs-pv' },
        spec: {
          capacity: { storage: '100Gi' },
          accessModes: ['ReadWriteMany'],
          storageClassName: '',
          nfs: { server: 'nfs.example', path: '/exports/dify' },
        },
      } as never,
    });
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: claim('shared', { accessModes: ['ReadWriteMany'], storageClassName: '' }) as never,
    });
    for (const [name, pin] of [
      ['nfs-a', 'node-1'],
      ['nfs-b', 'node-2'],
    ] as const) {
      const p = podWithClaim(name, 'shared', { subPath: 'app/storage' });
      (p.spec as Record<string, Loose>).nodeName = pin;
      (p.spec.containers[0] as Record<string, Loose>).env = [
        { name: 'OUT', value: `/data/${name}.txt` },
      ];
      await c.core.createNamespacedPod({ namespace: ns, body: p as never });
    }
    const dir = join(root, 'nfs/nfs.example/exports/dify/app/storage');
    await waitFor('both pods wrote into the shared export', () => {
      try {
        return (
          readFileSync(join(dir, 'nfs-a.txt'), 'utf8') &&
          readFileSync(join(dir, 'nfs-b.txt'), 'utf8')
        );
      } catch {
        return undefined;
      }
    });
  }, 20_000);

  it('creates one claim per ordinal from volumeClaimTemplates and provisions them', async () => {
    await createClass('local-path', 'rancher.io/local-path');
    await c.apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          serviceName: 'web',
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  name: 'main',
                  image: 'writer:1',
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: {
                accessModes: ['ReadWriteOnce'],
                storageClassName: 'local-path',
                resources: { requests: { storage: '1Gi' } },
              },
            },
          ],
        },
      },
    });
    const claims = await waitFor(
      'two bound claims',
      async () => {
        const l = await c.core.listNamespacedPersistentVolumeClaim({
          namespace: ns,
          labelSelector: 'app=web',
        });
        return l.items.filter((x) => x.status?.phase === 'Bound').length === 2
          ? l.items
          : undefined;
      },
      15_000,
    );
    expect(claims.map((x) => x.metadata?.name).sort()).toEqual(['data-web-0', 'data-web-1']);
    const pv = await c.core.readPersistentVolume({ name: claims[0]!.spec!.volumeName! });
    expect(pv.spec?.hostPath?.path).toMatch(/^\/var\/lib\/sim-provisioner\/pvc-/);
    expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe(
      'rancher.io/local-path',
    );
  }, 20_000);

  it('accepts line-wrapped base64 in Secret data (Go ignores \\r\\n) and stores it unwrapped', async () => {
    const value = 'x'.repeat(80);
    const wrapped = Buffer.from(value)
      .toString('base64')
      .replace(/(.{76})/g, '$1\r\n');
    expect(wrapped).toContain('\n');
    const res = await fetch(`${server.httpUrl}/api/v1/namespaces/${ns}/secrets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { name: 'wrapped' }, data: { SECRET_VALUE: wrapped } }),
    });
    expect(res.status).toBe(201);
    const got = await c.core.readNamespacedSecret({ name: 'wrapped', namespace: ns });
    expect(got.data?.SECRET_VALUE).toBe(Buffer.from(value).toString('base64'));
    const bad = await fetch(`${server.httpUrl}/api/v1/namespaces/${ns}/secrets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { name: 'bad' }, data: { K: 'not base64!' } }),
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
  });
});
