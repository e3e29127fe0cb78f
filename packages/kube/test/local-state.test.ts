import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  detectLocalState,
  inspectInstall,
  objectPath,
  planCutover,
  renderPlanMarkdown,
  type ConfigMap,
  type EnvObjectLookup,
  type Finding,
  type Workload,
} from '../src/index.js';
import { difySts, sharedConfig } from './fixtures/install.js';
import { seedInstall, startCluster, type TestCluster } from './support/cluster.js';

const S3 = { endpoint: 'http://rgw.storage:7480', bucket: 'dify-files', region: 'us-east-1' };
const STORAGE = '/app/api/storage';

/** A plugin daemon Deployment as the community charts write it: its own hostPath, local storage. */
function pluginDaemon(env: { name: string; value: string }[] = []): Workload {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'dify-plugin-daemon', labels: { app: 'dify-plugin-daemon' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'dify-plugin-daemon' } },
      template: {
        metadata: { labels: { app: 'dify-plugin-daemon' } },
        spec: {
          containers: [
            {
              name: 'plugin-daemon',
              image: 'langgenius/dify-plugin-daemon:0.0.9-local',
              env: [{ name: 'PLUGIN_STORAGE_LOCAL_ROOT', value: '/app/storage' }, ...env],
              volumeMounts: [{ name: 'plugins', mountPath: '/app/storage' }],
            },
          ],
          volumes: [{ name: 'plugins', hostPath: { path: '/root/dify/plugin_daemon' } }],
        },
      },
    },
  };
}

/** The api StatefulSet with extra env and, optionally, changes to its pod spec. */
function api(env: Record<string, string>, edit: (w: Workload) => void = () => undefined): Workload {
  const w = difySts('dify-api');
  const c = w.spec!.template!.spec!.containers[0]!;
  c.env = [...(c.env ?? []), ...Object.entries(env).map(([name, value]) => ({ name, value }))];
  edit(w);
  return w;
}

const noObjects: EnvObjectLookup = () => undefined;
function detect(converted: Workload[], others: Workload[] = []): Finding[] {
  return detectLocalState({
    storageMountPath: STORAGE,
    converted: converted.map((workload) => ({ workload, storageVolumeName: 'dify-api-storage' })),
    others,
    lookup: noObjects,
    s3: S3,
  });
}
const codes = (f: Finding[]) => f.map((x) => `${x.severity}:${x.code}`);

describe('local state the cutover would lose', () => {
  it('the plugin daemon on local storage: where it is, and the opt-in env for its S3 backend', () => {
    const [f, ...rest] = detect([], [pluginDaemon()]);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ code: 'plugin-daemon-local-storage', severity: 'warning' });
    expect(f!.message).toContain('Deployment/dify-plugin-daemon');
    expect(f!.message).toContain('on hostPath /root/dify/plugin_daemon');
    expect(f!.message).toContain(
      'plugin/, plugin_packages/, assets/, persistence/ under /app/storage',
    );
    for (const setting of [
      'PLUGIN_STORAGE_TYPE=aws_s3',
      'S3_USE_AWS_MANAGED_IAM=false',
      'S3_ENDPOINT=http://rgw.storage:7480',
      'S3_USE_PATH_STYLE=true',
      'AWS_REGION=us-east-1',
    ])
      expect(f!.message).toContain(setting);
    expect(f!.message).toContain('dify-storage plugin-daemon --phase move --bucket');
    // With a private CA the Go daemon needs it too.
    const withCa = detectLocalState({
      storageMountPath: STORAGE,
      converted: [],
      others: [pluginDaemon()],
      lookup: noObjects,
      s3: { ...S3, caBundle: '-----BEGIN CERTIFICATE-----' },
    });
    expect(withCa[0]!.message).toContain(
      'SSL_CERT_FILE pointing at the ConfigMap dify-s3-ca-bundle',
    );
    expect(f!.message).not.toContain('SSL_CERT_FILE');
    // Already on S3: nothing to say. The default type is local (default.go:18).
    expect(detect([], [pluginDaemon([{ name: 'PLUGIN_STORAGE_TYPE', value: 'aws_s3' }])])).toEqual(
      [],
    );
  });

  it('a Qdrant store on a local path: a blocker inside the storage path, a warning elsewhere', () => {
    const inside = detect([api({ VECTOR_STORE: 'qdrant', QDRANT_URL: 'path:storage/qdrant' })]);
    expect(codes(inside)).toEqual(['blocker:vector-store-on-storage']);
    expect(inside[0]!.message).toContain('/app/api/storage/qdrant');
    const elsewhere = detect([api({ VECTOR_STORE: 'qdrant', QDRANT_URL: 'path:/data/qdrant' })]);
    expect(codes(elsewhere)).toEqual(['warning:vector-store-local']);
    // A Qdrant service, or another vector store, is not local state.
    expect(detect([api({ VECTOR_STORE: 'qdrant', QDRANT_URL: 'http://qdrant:6333' })])).toEqual([]);
    expect(detect([api({ VECTOR_STORE: 'weaviate', QDRANT_URL: 'path:storage/q' })])).toEqual([]);
  });

  it('LOG_FILE on the storage volume, relative or absolute; not elsewhere', () => {
    expect(codes(detect([api({ LOG_FILE: 'storage/logs/server.log' })]))).toEqual([
      'warning:log-file-on-storage',
    ]);
    expect(codes(detect([api({ LOG_FILE: '/app/api/storage/server.log' })]))).toEqual([
      'warning:log-file-on-storage',
    ]);
    expect(detect([api({ LOG_FILE: '/app/logs/server.log' })])).toEqual([]);
  });

  it('volumes the Deployment drops or no longer pins: claim templates, hostPaths, emptyDirs', () => {
    const w = api({}, (sts) => {
      const spec = sts.spec!.template!.spec!;
      spec.volumes!.push(
        { name: 'models', hostPath: { path: '/data/models' } },
        { name: 'tmp', emptyDir: {} },
      );
      spec.containers[0]!.volumeMounts!.push(
        { name: 'models', mountPath: '/models' },
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'logs', mountPath: '/app/logs' },
      );
      sts.spec!.volumeClaimTemplates = [{ metadata: { name: 'logs' } }];
    });
    const found = detect([w]);
    expect(codes(found)).toEqual([
      'blocker:claim-template-dropped',
      'warning:hostpath-unpinned',
      'info:emptydir-replaced',
    ]);
    expect(found[0]!.message).toContain('volumeClaimTemplate "logs" (mounted at api:/app/logs)');
    expect(found[1]!.message).toContain('hostPath /data/models');
    expect(found[1]!.message).toContain('kubernetes.io/hostname=node-1');
  });
});

describe('the plan reports local state', () => {
  let cluster: TestCluster;
  const ns = 'dify';
  beforeAll(async () => {
    cluster = await startCluster();
    await seedInstall(cluster.client, ns);
    const cm: ConfigMap = sharedConfig();
    await cluster.client.updateWithRetry<ConfigMap>(
      objectPath('ConfigMap', ns, cm.metadata!.name!),
      (c) => ({
        ...c,
        data: {
          ...c.data,
          VECTOR_STORE: 'qdrant',
          QDRANT_URL: 'path:storage/qdrant',
          LOG_FILE: 'storage/server.log',
        },
      }),
    );
    await cluster.client.create(objectPath('ConfigMap', ns), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'plugin-daemon-config' },
      data: { PLUGIN_STORAGE_TYPE: 'local' },
    });
    const daemon = pluginDaemon();
    daemon.spec!.template!.spec!.containers[0]!.envFrom = [
      { configMapRef: { name: 'plugin-daemon-config' } },
    ];
    await cluster.client.create(objectPath('Deployment', ns), daemon);
  });
  afterAll(async () => cluster?.close());

  it('lists each finding with what to do; the ones that lose data block the cutover', async () => {
    const plan = planCutover(await inspectInstall(cluster.client, { namespace: ns }), S3);
    const found = codes(plan.findings);
    expect(found).toEqual(
      expect.arrayContaining([
        'warning:plugin-daemon-local-storage',
        'blocker:vector-store-on-storage',
        'warning:log-file-on-storage',
      ]),
    );
    expect(plan.blockers.map((b) => b.code)).toContain('vector-store-on-storage');
    expect(plan.blockers.map((b) => b.code)).not.toContain('plugin-daemon-local-storage');
    const md = renderPlanMarkdown(plan);
    expect(md).toContain('`plugin-daemon-local-storage`');
    expect(md).toContain('S3_USE_AWS_MANAGED_IAM=false');
    expect(md).toContain('QDRANT_URL=path:storage/qdrant');
  });
});
