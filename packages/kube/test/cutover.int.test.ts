import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  acquireLock,
  applyCutover,
  inspectInstall,
  isSubset,
  JournaledError,
  LockHeldError,
  objectPath,
  planCutover,
  pollUntil,
  releaseLock,
  renderPlanMarkdown,
  renewLock,
  restoreObjects,
  sanitizeObject,
  scaleToZeroAndWait,
  scaleWorkload,
  snapshotObjects,
  snapshotTargets,
  waitForRollout,
  type ConfigMap,
  type JournalEntry,
  type KubeObject,
  type Pod,
  type Secret,
  type Workload,
} from '../src/index.js';
import { generateTestCertificates } from '../../../action-tests/src/proving-ground/tls.js';
import { seedInstall, startCluster, type TestCluster } from './support/cluster.js';

const ns = 'dify';
const settings = {
  endpoint: 'http://127.0.0.1:17480',
  bucket: 'dify-data',
  region: 'us-east-1',
  progressDeadlineSeconds: 120,
};
const credentials = { accessKey: 'AKIATESTKEY', secretKey: 'test-secret-value-123' };
const workloads = [
  { kind: 'StatefulSet' as const, name: 'dify-api' },
  { kind: 'StatefulSet' as const, name: 'dify-worker' },
];

let cluster: TestCluster;
beforeEach(async () => {
  cluster = await startCluster();
  await seedInstall(cluster.client, ns);
  // Wait for the simulated controller to start the pods.
  await waitForRollout(cluster.client, {
    namespace: ns,
    kind: 'StatefulSet',
    name: 'dify-api',
    timeoutMs: 5000,
    intervalMs: 20,
  });
});
afterEach(async () => {
  await cluster?.close();
});

async function snapshotInstall() {
  const targets = snapshotTargets(await inspectInstall(cluster.client, { namespace: ns }));
  expect(targets).toEqual({
    objects: [
      { kind: 'StatefulSet', name: 'dify-api' },
      { kind: 'StatefulSet', name: 'dify-worker' },
      { kind: 'ConfigMap', name: 'dify-shared-config' },
      { kind: 'ConfigMap', name: 'dify-extra' },
      { kind: 'Service', name: 'dify-api' },
      { kind: 'Service', name: 'dify-worker' },
    ],
    secrets: ['dify-db'],
  });
  return snapshotObjects(cluster.client, { namespace: ns, ...targets });
}

/** A CA certificate (PEM) made with openssl, as an operator's private CA would be. */
async function generateCaPem(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'plan-ca-'));
  try {
    const { caFile } = await generateTestCertificates(dir);
    return await readFile(caFile, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('inspect and plan', () => {
  it('finds the StatefulSets, hostPath, node, ConfigMaps, Secrets and Services', async () => {
    const i = await inspectInstall(cluster.client, { namespace: ns });
    expect(i.api.state).toBe('statefulset');
    expect(i.api.storage).toEqual({
      volumeName: 'dify-api-storage',
      source: 'hostPath',
      hostPath: { path: '/root/dify/app/api/storage', type: 'DirectoryOrCreate' },
      containers: ['api'],
    });
    expect(i.worker.storage?.hostPath?.path).toBe('/root/dify/app/api/storage');
    expect(i.apiPod).toEqual({ name: 'dify-api-0', nodeName: 'node-1', phase: 'Running' });
    expect(i.node).toBe('node-1');
    expect(i.api.pinning).toEqual(['nodeSelector kubernetes.io/hostname=node-1']);
    expect(i.storageConfigMap).toBe('dify-shared-config');
    expect(i.configMaps.map((c) => [c.name, c.exists])).toEqual([
      ['dify-shared-config', true],
      ['dify-extra', true],
    ]);
    expect(i.secrets).toEqual(['dify-db']);
    expect(i.services.map((s) => [s.name, s.selects])).toEqual([
      ['dify-api', ['dify-api']],
      ['dify-worker', ['dify-worker']],
    ]);
    expect(i.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it('renders a plan with every change and no secret value', async () => {
    const i = await inspectInstall(cluster.client, { namespace: ns });
    const plan = planCutover(i, settings);
    expect(plan.blockers).toEqual([]);
    expect(plan.configMap?.changes.map((c) => `${c.change} ${c.key}`)).toContain(
      'changed STORAGE_TYPE',
    );
    const md = renderPlanMarkdown(plan);
    expect(md).toContain('### StatefulSet `dify-api` → Deployment `dify-api` (1 replica(s))');
    expect(md).toContain('- spec.serviceName: "dify-api"');
    expect(md).toContain('- spec.template.spec.volumes[name=dify-api-storage]');
    expect(md).toContain('| `STORAGE_TYPE` | changed | `opendal` | `s3` |');
    for (const secret of ['sk-super-secret-value', 'hunter2', 'pg-secret', credentials.secretKey]) {
      expect(md).not.toContain(secret);
      expect(JSON.stringify(plan)).not.toContain(secret);
    }
  });

  it('with a private CA, shows the ConfigMap it creates and the mount in each Deployment diff', async () => {
    const pem = await generateCaPem();
    const plan = planCutover(await inspectInstall(cluster.client, { namespace: ns }), {
      ...settings,
      caBundle: pem,
    });
    expect(plan.caBundle).toEqual({
      configMap: 'dify-s3-ca-bundle',
      path: '/etc/dify-storage/ca/ca-bundle.crt',
      certificates: 1,
      env: ['AWS_CA_BUNDLE', 'REQUESTS_CA_BUNDLE'],
    });
    const md = renderPlanMarkdown(plan);
    expect(md).toContain('### ConfigMap `dify-s3-ca-bundle` (create or update)');
    expect(md).toContain('`AWS_CA_BUNDLE` and `REQUESTS_CA_BUNDLE` point at it');
    expect(md).toContain('+ spec.template.spec.volumes[name=dify-s3-ca-bundle]');
    expect(md).not.toContain(pem.split('\n')[1]!); // the plan names the CA, never its bytes
  });

  it('explains unexpected shapes', async () => {
    const { client } = cluster;
    // Worker on another node, with another directory; ConfigMap gone.
    await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, 'dify-worker'), (sts) => {
      const spec = sts.spec!.template!.spec!;
      spec.nodeSelector = { 'kubernetes.io/hostname': 'node-2' };
      spec.volumes![0]!.hostPath!.path = '/data/other';
      return sts;
    });
    await client.delete(objectPath('Pod', ns, 'dify-worker-0'));
    await client.delete(objectPath('ConfigMap', ns, 'dify-shared-config'));
    await pollUntil(
      async () => {
        const pod = await client.getOrNull<Pod>(objectPath('Pod', ns, 'dify-worker-0'));
        return pod?.spec?.nodeName === 'node-1' ? undefined : true;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
      () => new Error('the old dify-worker-0 (on node-1) did not go'),
    );
    const i = await inspectInstall(client, { namespace: ns });
    const codes = i.findings.map((f) => f.code);
    expect(codes).toEqual(
      expect.arrayContaining(['different-hostpaths', 'different-nodes', 'configmap-missing']),
    );
    const md = renderPlanMarkdown(planCutover(i, settings));
    expect(md).toContain('dify-worker in hostPath /data/other on node node-2');
    expect(md).toContain('dify-api runs on node-1 but dify-worker on node-2');
    expect(md).toContain('Apply is blocked');
  });

  it('refuses when a Secret overrides STORAGE_TYPE, whatever ConfigMap is named (safety rule)', async () => {
    const { client } = cluster;
    await client.create(objectPath('Secret', ns), {
      metadata: { name: 'dify-storage-env' },
      stringData: { STORAGE_TYPE: 'opendal', OPENDAL_FS_ROOT: 'storage' },
    });
    await client.create(objectPath('ConfigMap', ns), {
      metadata: { name: 'unused' },
      data: { STORAGE_TYPE: 'opendal' },
    });
    for (const name of ['dify-api', 'dify-worker']) {
      await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, name), (sts) => {
        sts.spec!.template!.spec!.containers[0]!.envFrom!.push({
          secretRef: { name: 'dify-storage-env' },
        });
        return sts;
      });
    }
    for (const configMapName of [undefined, 'dify-shared-config', 'unused']) {
      const i = await inspectInstall(client, {
        namespace: ns,
        ...(configMapName ? { configMapName } : {}),
      });
      const plan = planCutover(i, { ...settings, acceptFindings: ['storage-setting-overridden'] });
      const refusal = plan.blockers.filter((b) => b.code === 'storage-setting-overridden');
      expect(refusal.map((b) => b.message)).toEqual([
        expect.stringContaining(
          'container "api" of "dify-api" would still get STORAGE_TYPE="opendal" from Secret "dify-storage-env" (envFrom)',
        ),
        expect.stringContaining('container "worker" of "dify-worker"'),
      ]);
      expect(renderPlanMarkdown(plan)).toContain('Apply is blocked');
    }
    // Without the Secret's STORAGE_TYPE the real ConfigMap plans cleanly; an unused one still refuses.
    await client.updateWithRetry<Secret>(objectPath('Secret', ns, 'dify-storage-env'), (s) => {
      delete s.data!.STORAGE_TYPE;
      return s;
    });
    const plan = async (configMapName: string) =>
      planCutover(await inspectInstall(client, { namespace: ns, configMapName }), settings);
    expect((await plan('dify-shared-config')).blockers).toEqual([]);
    expect((await plan('unused')).blockers.map((b) => b.message)).toEqual([
      expect.stringContaining(
        'STORAGE_TYPE="opendal" from ConfigMap "dify-shared-config" (envFrom)',
      ),
      expect.stringContaining('"dify-worker"'),
    ]);
  });

  it('refuses api/worker images other than Dify 1.3.x unless allowed, and reports the plugin daemon version', async () => {
    const { client } = cluster;
    await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, 'dify-worker'), (sts) => {
      sts.spec!.template!.spec!.containers[0]!.image = 'registry.example/langgenius/dify-api:1.4.0';
      return sts;
    });
    await client.create(objectPath('Deployment', ns), {
      metadata: { name: 'dify-plugin-daemon' },
      spec: {
        selector: { matchLabels: { app: 'plugin' } },
        template: {
          metadata: { labels: { app: 'plugin' } },
          spec: { containers: [{ name: 'd', image: 'langgenius/dify-plugin-daemon:0.0.9-local' }] },
        },
      },
    });
    const i = await inspectInstall(client, { namespace: ns });
    const refused = planCutover(i, settings);
    expect(refused.blockers.map((b) => [b.code, b.message])).toEqual([
      [
        'unsupported-version',
        expect.stringContaining(
          '"dify-worker" runs registry.example/langgenius/dify-api:1.4.0: version 1.4.0 is not Dify 1.3.x',
        ),
      ],
    ]);
    const allowed = planCutover(i, { ...settings, allowVersions: ['1.4.0'] });
    expect(allowed.blockers).toEqual([]);
    expect(allowed.findings.map((f) => `${f.severity} ${f.code}`)).toEqual(
      expect.arrayContaining(['warning allowed-version', 'info plugin-daemon-version']),
    );
    expect(renderPlanMarkdown(allowed)).toContain(
      'Plugin daemon Deployment/dify-plugin-daemon runs langgenius/dify-plugin-daemon:0.0.9-local (version 0.0.9-local)',
    );
  });

  it('names other workloads that write the storage or read the changed ConfigMap (§8)', async () => {
    const { client } = cluster;
    const beat = (name: string, volumes: unknown[], envFrom: unknown[]) =>
      client.create(objectPath('Deployment', ns), {
        metadata: { name },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              containers: [
                {
                  name: 'c',
                  image: 'langgenius/dify-api:1.3.0',
                  envFrom,
                  ...(volumes.length ? { volumeMounts: [{ name: 's', mountPath: '/data' }] } : {}),
                },
              ],
              ...(volumes.length ? { volumes } : {}),
            },
          },
        },
      });
    await beat('dify-worker-beat', [], [{ configMapRef: { name: 'dify-shared-config' } }]);
    await beat(
      'storage-cleaner',
      [{ name: 's', hostPath: { path: '/root/dify/app/api/storage' } }],
      [],
    );
    const plan = planCutover(await inspectInstall(client, { namespace: ns }), settings);
    const found = plan.findings.filter((f) => f.code.startsWith('other-'));
    expect(found.map((f) => [f.code, f.message])).toEqual([
      [
        'other-configmap-reader',
        expect.stringContaining(
          'Deployment/dify-worker-beat reads ConfigMap "dify-shared-config" and is not converted: after its next restart it sees OPENDAL_FS_ROOT removed, OPENDAL_SCHEME removed, S3_ADDRESS_STYLE=path, S3_BUCKET_NAME=dify-data',
        ),
      ],
      [
        'other-storage-writer',
        expect.stringContaining(
          'Deployment/storage-cleaner mounts the storage (hostPath /root/dify/app/api/storage) writable and is not converted: the cutover freezes it with api and worker - scaled to 0 during the final delta, then given back its',
        ),
      ],
    ]);
  });

  /** A PV with `source` and its claim, bound as the PV controller would (no binder here). */
  async function boundClaim(
    claim: string,
    pv: string,
    source: Record<string, unknown>,
  ): Promise<void> {
    await cluster.client.request('POST', '/api/v1/persistentvolumes', {
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: '10Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          ...source,
        },
      },
    });
    await cluster.client.create(objectPath('PersistentVolumeClaim', ns), {
      metadata: { name: claim },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        volumeName: pv,
        resources: { requests: { storage: '10Gi' } },
      },
    });
    cluster.server.store.updateStatus('persistentvolumeclaims', ns, claim, { phase: 'Bound' });
  }

  it('names one RWO claim per workload (shape 3), both volumes, and resolves a local PV', async () => {
    const { client } = cluster;
    for (const [name, node] of [
      ['dify-api', 'node-1'],
      ['dify-worker', 'node-1'],
    ] as const) {
      await boundClaim(`data-${name}`, `pv-${name}`, {
        local: { path: `/mnt/${name}` },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: [node] },
                ],
              },
            ],
          },
        },
      });
      await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, name), (sts) => {
        sts.spec!.template!.spec!.volumes![0] = {
          name: `${name}-storage`,
          persistentVolumeClaim: { claimName: `data-${name}` },
        };
        return sts;
      });
    }
    const i = await inspectInstall(client, { namespace: ns });
    expect(i.api.volumes).toEqual([
      expect.objectContaining({
        kind: 'local',
        nodeLocal: true,
        path: '/mnt/dify-api',
        claim: 'data-dify-api',
        persistentVolume: 'pv-dify-api',
        node: 'node-1',
        nodeFrom: 'volume',
      }),
    ]);
    const md = renderPlanMarkdown(planCutover(i, settings));
    expect(md).toContain(
      '⚠️ warning `different-volumes`: dify-api stores files in claim "data-dify-api" → local PV "pv-dify-api" /mnt/dify-api on node node-1 but dify-worker in claim "data-dify-worker" → local PV "pv-dify-worker" /mnt/dify-worker on node node-1: each sees different files. Backup, migrate, cutover and rollback take both trees',
    );
  });

  /** A local PV pinned to `node`. */
  const localOn = (node: string, path: string) => ({
    local: { path },
    nodeAffinity: {
      required: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
        ],
      },
    },
  });

  it("takes every ordinal's claim on one node; refuses them on several, naming the nodes", async () => {
    const { client } = cluster;
    await boundClaim('data-dify-api-0', 'pv-0', localOn('node-1', '/mnt/ordinal-0'));
    await boundClaim('data-dify-api-1', 'pv-1', localOn('node-1', '/mnt/ordinal-1'));
    await boundClaim('data-dify-api-2', 'pv-2', localOn('node-2', '/mnt/ordinal-2'));
    const sts = await client.get<Workload>(objectPath('StatefulSet', ns, 'dify-api'));
    await client.delete(objectPath('StatefulSet', ns, 'dify-api'), { propagationPolicy: 'Orphan' });
    // Orphan deletion finishes once the garbage collector has released the pods.
    await pollUntil(
      async () =>
        (await client.getOrNull(objectPath('StatefulSet', ns, 'dify-api'))) ? undefined : true,
      { timeoutMs: 10_000, intervalMs: 20 },
      () => new Error('StatefulSet dify-api was not deleted'),
    );
    const spec = sanitizeObject(sts).spec!;
    spec.template!.spec!.volumes = spec.template!.spec!.volumes!.filter((v) => !v.hostPath);
    spec.template!.spec!.containers[0]!.volumeMounts = [
      { name: 'data', mountPath: '/app/api/storage' },
    ];
    await client.create(objectPath('StatefulSet', ns), {
      metadata: { name: 'dify-api', labels: sts.metadata?.labels },
      spec: {
        ...spec,
        replicas: 2,
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
          },
        ],
      },
    });
    const ordinals = async () => {
      const i = await inspectInstall(client, { namespace: ns });
      return { i, found: i.findings.filter((f) => f.code === 'ordinal-volumes') };
    };
    const two = await ordinals();
    expect(two.found.map((f) => [f.severity, f.message])).toEqual([
      [
        'warning',
        expect.stringContaining(
          'StatefulSet "dify-api" has 2 replicas with a claim each: ordinal 1 keeps its own files in claim "data-dify-api-1" → local PV "pv-1" /mnt/ordinal-1 on node node-1. Backup, migrate, cutover and rollback take every ordinal\'s tree',
        ),
      ],
    ]);
    expect(planCutover(two.i, settings).blockers.map((b) => b.code)).not.toContain(
      'ordinal-volumes',
    );
    await client.patch(objectPath('StatefulSet', ns, 'dify-api'), { spec: { replicas: 3 } });
    const three = await ordinals();
    expect(three.found.map((f) => [f.severity, f.message])).toEqual([
      [
        'blocker',
        expect.stringContaining(
          "those are node-local volumes on nodes node-1 and node-2, and a runner reads one node's disk only",
        ),
      ],
    ]);
    expect(planCutover(three.i, settings).blockers.map((b) => b.code)).toContain('ordinal-volumes');
  });

  it('refuses node-local storage whose pods run on several nodes', async () => {
    const { client } = cluster;
    // A second api pod that once landed on another node (an unpinned hostPath StatefulSet).
    await client.create(objectPath('Pod', ns), {
      metadata: { name: 'dify-api-1', labels: { app: 'dify-api' } },
      spec: {
        nodeName: 'node-2',
        containers: [{ name: 'api', image: 'langgenius/dify-api:1.3.0' }],
      },
    });
    const i = await inspectInstall(client, { namespace: ns });
    expect(
      i.findings.filter((f) => f.code === 'pods-on-several-nodes').map((f) => f.message),
    ).toEqual([
      'The pods of "dify-api" run on node-1, node-2 with a node-local hostPath (/root/dify/app/api/storage): each node\'s directory holds different files, and only one node\'s is backed up and copied. Move the files to one node and pin the workload there, then plan again.',
    ]);
  });

  it('explains storage that is not a hostPath, or not mounted at all', async () => {
    const { client } = cluster;
    await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, 'dify-api'), (sts) => {
      sts.spec!.template!.spec!.volumes![0] = {
        name: 'dify-api-storage',
        persistentVolumeClaim: { claimName: 'dify' },
      };
      return sts;
    });
    await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, 'dify-worker'), (sts) => {
      const spec = sts.spec!.template!.spec!;
      spec.containers[0]!.volumeMounts = spec.containers[0]!.volumeMounts!.filter(
        (m) => m.mountPath !== '/app/api/storage',
      );
      spec.volumes = spec.volumes!.filter((v) => !v.hostPath);
      return sts;
    });
    const md = renderPlanMarkdown(
      planCutover(await inspectInstall(client, { namespace: ns }), settings),
    );
    expect(md).toContain(
      '⛔ blocker `storage-unresolved`: StatefulSet "dify-api" mounts volume "dify-api-storage" (persistentVolumeClaim) at /app/api/storage, but PersistentVolumeClaim "dify" does not exist',
    );
    expect(md).toContain(
      '⛔ blocker `no-storage-mount`: StatefulSet "dify-worker" mounts nothing at /app/api/storage',
    );
  });

  it('sees different nodes from the pinning once the pods are gone (frozen)', async () => {
    const { client } = cluster;
    await scaleToZeroAndWait(client, { namespace: ns, workloads, timeoutMs: 5000, intervalMs: 20 });
    await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, 'dify-worker'), (sts) => {
      sts.spec!.template!.spec!.nodeSelector = { 'kubernetes.io/hostname': 'node-2' };
      return sts;
    });
    const i = await inspectInstall(client, { namespace: ns });
    expect(i.apiPod).toBeUndefined();
    expect(i.node).toBe('node-1');
    expect(i.findings.map((f) => [f.code, f.severity])).toEqual(
      expect.arrayContaining([
        ['api-pod-missing', 'warning'],
        ['different-nodes', 'blocker'],
      ]),
    );
  });

  it('says so when the namespace has Deployments already or nothing at all', async () => {
    const empty = await inspectInstall(cluster.client, { namespace: 'default' });
    expect(empty.findings.map((f) => f.code)).toContain('workload-missing');
    expect(empty.findings[0]?.message).toContain(
      'Neither a StatefulSet nor a Deployment named "dify-api" exists in namespace "default"',
    );
  });
});

describe('freeze, apply, re-run, restore', () => {
  it('converges, is a no-op when re-run, and the snapshot restores the original objects', async () => {
    const { client, server } = cluster;
    const snapshot = await snapshotInstall();
    expect(snapshot.missing).toEqual([]);
    expect(JSON.stringify(snapshot)).not.toContain(Buffer.from('pg-secret').toString('base64'));

    const freeze = await scaleToZeroAndWait(client, {
      namespace: ns,
      workloads,
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(freeze.replicas).toEqual({ 'dify-api': 1, 'dify-worker': 1 });
    expect(await client.list<Pod>('Pod', ns)).toEqual([]);
    // A second freeze remembers the counts from the annotation.
    const again = await scaleToZeroAndWait(client, {
      namespace: ns,
      workloads,
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(again.replicas).toEqual({ 'dify-api': 1, 'dify-worker': 1 });

    const journal: JournalEntry[] = [];
    const result = await applyCutover(client, {
      namespace: ns,
      settings,
      credentials,
      replicas: freeze.replicas,
      pollIntervalMs: 20,
      rolloutTimeoutMs: 10_000,
      onJournal: (e) => journal.push(e),
    });
    expect(result.noop).toBe(false);
    expect(result.journal.map((e) => `${e.action} ${e.kind}/${e.name}`)).toEqual([
      'created Secret/dify-s3-credentials',
      'updated ConfigMap/dify-shared-config',
      'created Deployment/dify-api',
      'created Deployment/dify-worker',
      'deleted StatefulSet/dify-api',
      'deleted StatefulSet/dify-worker',
    ]);
    expect(journal).toEqual(result.journal);
    expect(JSON.stringify(result)).not.toContain(credentials.secretKey);

    // Outcome: Secret holds the credentials, ConfigMap selects S3, Deployments run, Services select them.
    const secret = await client.get<Secret>(objectPath('Secret', ns, 'dify-s3-credentials'));
    expect(Buffer.from(secret.data?.S3_SECRET_KEY ?? '', 'base64').toString()).toBe(
      credentials.secretKey,
    );
    const cm = await client.get<ConfigMap>(objectPath('ConfigMap', ns, 'dify-shared-config'));
    expect(cm.data?.STORAGE_TYPE).toBe('s3');
    expect(Object.keys(cm.data ?? {}).filter((k) => k.startsWith('OPENDAL_'))).toEqual([]);
    expect(await client.getOrNull(objectPath('StatefulSet', ns, 'dify-api'))).toBeUndefined();
    const deployment = await client.get<Workload>(objectPath('Deployment', ns, 'dify-api'));
    expect(deployment.spec?.replicas).toBe(1);
    expect(JSON.stringify(deployment.spec)).not.toContain('hostPath');
    const pods = await client.list<Pod>('Pod', ns, { labelSelector: 'app=dify-api' });
    expect(pods).toHaveLength(1);
    expect(pods[0]?.spec?.nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    const after = await inspectInstall(client, { namespace: ns });
    expect(after.converted).toBe(true);
    expect(after.services.find((s) => s.name === 'dify-api')?.selects).toEqual(['dify-api']);

    // Re-run: nothing changes and it says so.
    const rerun = await applyCutover(client, {
      namespace: ns,
      settings,
      credentials,
      pollIntervalMs: 20,
      rolloutTimeoutMs: 10_000,
    });
    expect(rerun.noop).toBe(true);
    expect(rerun.message).toContain('already converted');
    expect(rerun.journal).toEqual([]);
    expect(planCutover(after, settings).noop).toBe(true);
    const noopPlan = renderPlanMarkdown(planCutover(after, settings));
    expect(noopPlan).toContain('**Already converted: nothing to change.**');
    expect(noopPlan).toContain('"dify-api" is already a Deployment (converted by this tool)');

    // Rollback: StatefulSets at 0 (the files would be restored next), Deployments and the S3 Secret gone.
    const restored = await restoreObjects(client, {
      namespace: ns,
      objects: snapshot.sanitized,
      secretName: 'dify-s3-credentials',
      statefulSetReplicas: 0,
      intervalMs: 20,
      timeoutMs: 10_000,
    });
    expect(restored.journal.map((e) => `${e.action} ${e.kind}/${e.name}`)).toEqual([
      'scaled Deployment/dify-api',
      'deleted Deployment/dify-api',
      'scaled Deployment/dify-worker',
      'deleted Deployment/dify-worker',
      'replaced ConfigMap/dify-shared-config',
      'created StatefulSet/dify-api',
      'created StatefulSet/dify-worker',
      'deleted Secret/dify-s3-credentials',
    ]);
    const rerestore = await restoreObjects(client, {
      namespace: ns,
      objects: snapshot.sanitized,
      secretName: 'dify-s3-credentials',
      statefulSetReplicas: 0,
      intervalMs: 20,
    });
    expect(rerestore.noop).toBe(true);
    // Everything compares equal to the snapshot apart from server-set fields (and the replica count we chose).
    for (const original of snapshot.sanitized) {
      const kind = original.kind as 'StatefulSet' | 'ConfigMap' | 'Service';
      const live = sanitizeObject(
        await client.get<KubeObject>(objectPath(kind, ns, original.metadata?.name ?? '')),
      );
      const expected = structuredClone(original) as Workload;
      if (kind === 'StatefulSet') expected.spec = { ...expected.spec, replicas: 0 };
      expect(isSubset(expected, live)).toBe(true);
      if (kind === 'ConfigMap') expect(live).toEqual(expected);
    }
    expect(await client.getOrNull(objectPath('Deployment', ns, 'dify-api'))).toBeUndefined();
    expect(await client.getOrNull(objectPath('Secret', ns, 'dify-s3-credentials'))).toBeUndefined();

    // Files restored (not this library's job): the replica counts come back and the rollout completes.
    for (const [name, replicas] of Object.entries(freeze.replicas)) {
      await scaleWorkload(client, ns, { kind: 'StatefulSet', name }, replicas);
      const status = await waitForRollout(client, {
        namespace: ns,
        kind: 'StatefulSet',
        name,
        timeoutMs: 5000,
        intervalMs: 20,
      });
      expect(status.done).toBe(true);
    }
    expect((await client.list<Pod>('Pod', ns)).map((p) => p.metadata?.name).sort()).toEqual([
      'dify-api-0',
      'dify-worker-0',
    ]);
    void server;
  });

  it('re-creates a StatefulSet whose immutable fields differ from the snapshot, keeping its pods', async () => {
    const { client, server } = cluster;
    const snapshot = await snapshotInstall();
    // Someone changed serviceName behind the API's back (an update would be refused).
    const podBefore = await client.get<Pod>(objectPath('Pod', ns, 'dify-api-0'));
    const live = server.store.get('statefulsets', ns, 'dify-api')!;
    live.spec = { ...live.spec, serviceName: 'other' };
    server.store.update('statefulsets', live);
    const result = await restoreObjects(client, {
      namespace: ns,
      objects: snapshot.sanitized.filter((o) => o.kind === 'StatefulSet'),
      intervalMs: 20,
    });
    expect(result.journal.map((e) => `${e.action} ${e.kind}/${e.name}: ${e.detail}`)).toEqual([
      'deleted StatefulSet/dify-api: immutable fields differ from the snapshot; re-created',
      'created StatefulSet/dify-api: from the snapshot (1 replica(s))',
    ]);
    const sts = await client.get<Workload>(objectPath('StatefulSet', ns, 'dify-api'));
    expect(sts.spec?.serviceName).toBe('dify-api');
    await waitForRollout(client, {
      namespace: ns,
      kind: 'StatefulSet',
      name: 'dify-api',
      timeoutMs: 5000,
      intervalMs: 20,
    });
    const podAfter = await client.get<Pod>(objectPath('Pod', ns, 'dify-api-0'));
    expect(podAfter.metadata?.uid).toBe(podBefore.metadata?.uid);
    const owners = podAfter.metadata?.ownerReferences as { uid?: string }[] | undefined;
    expect(owners?.[0]?.uid).toBe(sts.metadata?.uid);
  });

  it('replaces a StatefulSet whose mutable fields differ (no delete)', async () => {
    const { client } = cluster;
    const snapshot = await snapshotInstall();
    await client.updateWithRetry<Workload>(objectPath('StatefulSet', ns, 'dify-api'), (sts) => {
      sts.spec!.template!.spec!.containers[0]!.image = 'langgenius/dify-api:9.9.9';
      return sts;
    });
    const result = await restoreObjects(client, {
      namespace: ns,
      objects: snapshot.sanitized,
      intervalMs: 20,
    });
    expect(result.journal.map((e) => `${e.action} ${e.kind}/${e.name}`)).toEqual([
      'replaced StatefulSet/dify-api',
    ]);
  });

  it('refuses a snapshot of another namespace or with unsupported kinds before changing anything', async () => {
    const error = await restoreObjects(cluster.client, {
      namespace: ns,
      objects: [
        { kind: 'ConfigMap', metadata: { name: 'a', namespace: 'prod' } },
        { kind: 'Secret', metadata: { name: 'b' } },
        { kind: 'ConfigMap', metadata: {} },
      ],
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      [
        'the snapshot cannot be restored:',
        '  - ConfigMap/a belongs to namespace "prod", not "dify"',
        '  - Secret/b: only ConfigMap, Service, StatefulSet, PersistentVolumeClaim can be restored',
        '  - object #2 has no metadata.name',
      ].join('\n'),
    );
  });

  it('snapshot → delete → re-create compares equal apart from server-set fields', async () => {
    const { client } = cluster;
    const snapshot = await snapshotInstall();
    for (const o of snapshot.sanitized) {
      await client.delete(objectPath(o.kind as never, ns, o.metadata?.name ?? ''));
    }
    await restoreObjects(client, { namespace: ns, objects: snapshot.sanitized, intervalMs: 20 });
    for (const original of snapshot.raw) {
      const live = await client.get<KubeObject>(
        objectPath(original.kind as never, ns, original.metadata?.name ?? ''),
      );
      expect(live.metadata?.uid).not.toBe(original.metadata?.uid);
      expect(sanitizeObject(live)).toEqual(sanitizeObject(original));
    }
  });

  it('refuses to apply while the StatefulSets still run, before changing anything', async () => {
    const error = await applyCutover(cluster.client, {
      namespace: ns,
      settings,
      credentials,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toContain('dify-api, dify-worker still run or have replicas');
    expect(
      await cluster.client.getOrNull(objectPath('Secret', ns, 'dify-s3-credentials')),
    ).toBeUndefined();
  });

  it("fails the rollout on ProgressDeadlineExceeded with the pods' reasons, and the journal lists what changed", async () => {
    const { client, sim } = cluster;
    sim.failing.add('dify-api');
    const freeze = await scaleToZeroAndWait(client, {
      namespace: ns,
      workloads,
      timeoutMs: 5000,
      intervalMs: 20,
    });
    const error = (await applyCutover(client, {
      namespace: ns,
      settings,
      credentials,
      replicas: freeze.replicas,
      pollIntervalMs: 20,
      rolloutTimeoutMs: 5000,
    }).catch((e: unknown) => e)) as JournaledError;
    expect(error).toBeInstanceOf(JournaledError);
    expect(error.message).toContain('deployment "dify-api" exceeded its progress deadline');
    expect(error.message).toContain('CrashLoopBackOff');
    expect(error.message).toContain('botocore.exceptions.EndpointConnectionError');
    expect(error.journal.map((e) => `${e.action} ${e.kind}/${e.name}`)).toContain(
      'created Deployment/dify-api',
    );
    // The StatefulSets were not deleted: the Deployments never became ready.
    expect(await client.getOrNull(objectPath('StatefulSet', ns, 'dify-api'))).toBeDefined();

    // Fixed: the re-run converges.
    sim.failing.clear();
    await client.updateWithRetry<Workload>(objectPath('Deployment', ns, 'dify-api'), (d) => {
      d.metadata = { ...d.metadata, annotations: { ...d.metadata?.annotations, bump: '1' } };
      return d;
    });
    const rerun = await applyCutover(client, {
      namespace: ns,
      settings,
      credentials,
      pollIntervalMs: 20,
      rolloutTimeoutMs: 5000,
    });
    expect(rerun.journal.map((e) => `${e.action} ${e.kind}/${e.name}`)).toEqual([
      'deleted StatefulSet/dify-api',
      'deleted StatefulSet/dify-worker',
    ]);
  });

  it('times out a freeze naming the pods still present', async () => {
    const { client, sim } = cluster;
    sim.stop(); // no controller: pods never go away
    const error = await scaleToZeroAndWait(client, {
      namespace: ns,
      workloads: workloads.slice(0, 1),
      timeoutMs: 200,
      intervalMs: 20,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /timed out after 0s waiting for pods to terminate; still present: dify-api-0 \(Running on node-1\)/,
    );
  });
});

describe('lock', () => {
  it("refuses a second holder with the holder's name, lets the same holder in, takes over when expired", async () => {
    const { client } = cluster;
    const first = await acquireLock(client, { namespace: ns, holder: 'run-111', ttlSeconds: 60 });
    const refused = (await acquireLock(client, {
      namespace: ns,
      holder: 'run-222',
      ttlSeconds: 60,
    }).catch((e: unknown) => e)) as LockHeldError;
    expect(refused).toBeInstanceOf(LockHeldError);
    expect(refused.message).toMatch(/held by "run-111" since \d{4}-\d\d-\d\dT/);
    expect(refused.holder).toBe('run-111');
    await acquireLock(client, { namespace: ns, holder: 'run-111', ttlSeconds: 60 });
    await renewLock(client, first);

    const later = () => new Date(Date.now() + 120_000);
    const taken = await acquireLock(client, {
      namespace: ns,
      holder: 'run-333',
      ttlSeconds: 60,
      now: later,
    });
    expect(taken.tookOver).toBe('run-111');
    await expect(renewLock(client, first)).rejects.toThrow('now held by "run-333"');
    expect(await releaseLock(client, first)).toBe(false);
    expect(await releaseLock(client, taken)).toBe(true);
    expect(
      await client.getOrNull(objectPath('Lease', ns, 'dify-storage-migration')),
    ).toBeUndefined();
    const fresh = await acquireLock(client, { namespace: ns, holder: 'run-444', ttlSeconds: 60 });
    expect(fresh.tookOver).toBeUndefined();
  });

  it('lets exactly one of two concurrent takers win', async () => {
    const results = await Promise.allSettled([
      acquireLock(cluster.client, { namespace: ns, holder: 'a', ttlSeconds: 60 }),
      acquireLock(cluster.client, { namespace: ns, holder: 'b', ttlSeconds: 60 }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .map((r) => (r as PromiseRejectedResult).reason)[0],
    ).toBeInstanceOf(LockHeldError);
  });
});
