/**
 * The cutover against the pod simulator running the Dify emulator as real processes: before it,
 * uploads land in the node's hostPath directory; after it, the new api pod runs with
 * STORAGE_TYPE=s3, the earlier file is in the bucket (final delta) and new uploads land there too.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { difyRuntime } from '../../../action-tests/src/dify/runtime.js';
import {
  startFakeApiServer,
  startSimulator,
  type FakeApiServer,
  type Simulator,
} from '../../../action-tests/src/kube/index.js';
import { testEnv } from '../../../action-tests/src/proving-ground/index.js';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
} from '../../../action-tests/src/proving-ground/s3.js';
import {
  createTestDatabase,
  redisEnv,
  tempDir,
  waitFor,
  type TestDatabase,
} from '../../../action-tests/test/dify/support.js';
import { difyKeysOf, runConvert, runMigrate, type ConvertConfig } from '../src/index.js';
import { memoryLogger } from './convert-support.js';

const NS = 'dify';
const HOST_PATH = '/root/dify/app/api/storage';

function sts(name: 'dify-api' | 'dify-worker') {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, labels: { app: name } },
    spec: {
      serviceName: name,
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': 'node1' },
          containers: [
            {
              name: name === 'dify-api' ? 'api' : 'worker',
              image: 'langgenius/dify-api:1.3.0',
              env: [{ name: 'MODE', value: name === 'dify-api' ? 'api' : 'worker' }],
              envFrom: [{ configMapRef: { name: 'dify-shared-config' } }],
              volumeMounts: [{ name: 'storage', mountPath: '/app/api/storage' }],
            },
          ],
          volumes: [{ name: 'storage', hostPath: { path: HOST_PATH, type: 'DirectoryOrCreate' } }],
        },
      },
    },
  };
}

describe('cutover with the Dify emulator in the pod simulator', () => {
  let db: TestDatabase;
  let node: { dir: string; remove(): Promise<void> };
  let server: FakeApiServer;
  let sim: Simulator;
  let s3: S3Client;
  let bucket: string;
  let state: { dir: string; remove(): Promise<void> };
  const ports = new Map<string, number>();

  beforeAll(async () => {
    db = await createTestDatabase('dify_cv');
    node = await tempDir('convert-node-');
    state = await tempDir('convert-state-');
    s3 = testS3Client();
    bucket = await createTestBucket(s3, 'convert-e2e');
    server = await startFakeApiServer({});
    sim = startSimulator({
      server,
      nodes: { node1: node.dir },
      runtimes: {
        'langgenius/dify-api:*': difyRuntime({ onListen: (c, p) => ports.set(c.podName, p) }),
      },
      timeScale: 0.01,
    });
    server.api.create('configmaps', NS, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dify-shared-config' },
      data: {
        STORAGE_TYPE: 'opendal',
        OPENDAL_SCHEME: 'fs',
        OPENDAL_FS_ROOT: 'storage',
        ...db.difyEnv,
        ...(await redisEnv()),
        SECRET_KEY: 'kube-secret',
        DIFY_EMULATOR_ADMIN_TOKEN: 'adm',
      },
    });
    for (const name of ['dify-api', 'dify-worker'] as const) {
      server.api.create('services', NS, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name },
        spec: { selector: { app: name }, ports: [{ port: 5001, targetPort: 5001 }] },
      });
      server.api.create('statefulsets', NS, sts(name));
    }
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
    await server?.close();
    await db?.drop();
    await node?.remove();
    await state?.remove();
    if (s3) {
      await deleteTestBucket(s3, bucket).catch(() => undefined);
      s3.destroy();
    }
  });

  async function healthyApi(exclude: string[] = []): Promise<string> {
    return waitFor(
      'a healthy api pod',
      async () => {
        for (const [pod, port] of ports) {
          if (exclude.includes(pod)) continue;
          const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
          if (res?.ok) return `http://127.0.0.1:${port}`;
        }
        return undefined;
      },
      30_000,
      100,
    );
  }

  async function upload(base: string, apiKey: string, name: string, text: string): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([text]), name);
    const res = await fetch(`${base}/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}` },
      body: form,
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const { rows } = await db.pool.query<{ key: string }>(
      `SELECT key FROM upload_files WHERE id = $1`,
      [id],
    );
    return rows[0]!.key;
  }

  it('moves the api to S3: the earlier upload is copied, a new one lands in the bucket only', async () => {
    const before = await healthyApi();
    const ws = (await (
      await fetch(`${before}/console/api/workspaces`, {
        method: 'POST',
        headers: { 'X-Emulator-Admin-Token': 'adm' },
      })
    ).json()) as { app_api_key: string };
    const hostDir = path.join(node.dir, HOST_PATH);
    const oldKey = await upload(before, ws.app_api_key, 'before.txt', 'uploaded on the hostPath');
    expect(existsSync(path.join(hostDir, oldKey))).toBe(true);

    const env = testEnv();
    const s3Target = {
      bucket,
      endpoint: env.DSM_S3_ENDPOINT,
      region: env.DSM_S3_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: env.DSM_S3_ACCESS_KEY, secretAccessKey: env.DSM_S3_SECRET_KEY },
    };
    // The bulk copy (migrate-to-s3 with the default layout of one state directory), then Dify
    // keeps writing until the freeze.
    const bulk = await runMigrate(
      {
        s3: s3Target,
        storagePath: hostDir,
        mode: 'bulk',
        concurrency: 0,
        bandwidthLimit: 0,
        exclude: [],
        dryRun: false,
        stateDir: state.dir,
        readBack: 'none',
        reportPath: path.join(state.dir, 'migrate-report.json'),
      },
      memoryLogger(),
    );
    expect(bulk.report.ok).toBe(true);
    const betweenKey = await upload(before, ws.app_api_key, 'between.txt', 'after the bulk copy');
    const config: ConvertConfig = {
      phase: 'cutover',
      kube: { kubeconfig: await readFile(server.kubeconfigPath, 'utf8'), namespace: NS },
      apiName: 'dify-api',
      workerName: 'dify-worker',
      secretName: 'dify-s3-credentials',
      storageMountPath: '/app/api/storage',
      storagePath: hostDir,
      s3: s3Target,
      stateDir: state.dir,
      // The simulator runs Kubernetes time ×0.01: the Deployments' progress deadline (this value)
      // is 30 s of real time, and jest's timeout bounds the waits.
      rolloutTimeoutSeconds: 3000,
      lockTtlSeconds: 120,
      runId: 'e2e-run',
    };
    // Approval by dispatch (issue 14 §4): the plan's hash is what was approved; a cluster that
    // changed since is refused before anything changes, an unchanged one goes ahead.
    const keyed = { ...difyKeysOf(config.s3), ...config };
    const plan = async () =>
      (await runConvert({ ...keyed, phase: 'plan' }, memoryLogger())).planHash!;
    const approved = await plan();
    expect(approved).toMatch(/^ph-[0-9a-f]{24}$/);
    expect(await plan()).toBe(approved);
    const cm = server.store
      .list('configmaps', NS)
      .find((c) => c.metadata.name === 'dify-shared-config')!;
    server.api.replace('configmaps', NS, 'dify-shared-config', {
      ...cm,
      data: { ...(cm as unknown as { data: Record<string, string> }).data, LOG_LEVEL: 'DEBUG' },
    } as never);
    const drifted = await runConvert(
      { ...keyed, approvedPlanHash: approved },
      memoryLogger(),
    ).catch(
      (e: unknown) =>
        e as {
          cause?: { name?: string; message?: string };
          progress?: { mutationStarted: boolean };
        },
    );
    expect(drifted).toMatchObject({
      cause: {
        name: 'BlockedError',
        message: expect.stringContaining(
          `the cluster changed since the plan that was approved (approved ${approved}, now ph-`,
        ),
      },
      progress: { mutationStarted: false },
    });
    expect(server.store.list('statefulsets', NS)).toHaveLength(2);
    const result = await runConvert({ ...keyed, approvedPlanHash: await plan() }, memoryLogger(), {
      pollIntervalMs: 100,
    });
    expect(result.mutationStarted).toBe(true);
    expect(result.delta?.ok).toBe(true);
    // The delta starts from the bulk copy's journal (same state directory): it lists only the
    // directories that can hold changes, and copies the upload made since.
    expect(result.delta?.scan).toMatchObject({ strategy: 'pruned' });
    expect(result.delta?.copied).toBe(1);
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: oldKey }));
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: betweenKey }));

    // The new api pod (a Deployment's) runs on S3: an upload lands in the bucket, not on the node.
    const after = await healthyApi(['dify-api-0']);
    const newKey = await upload(after, ws.app_api_key, 'after.txt', 'uploaded to S3');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: newKey }));
    expect(head.ContentLength).toBe('uploaded to S3'.length);
    expect(existsSync(path.join(hostDir, newKey))).toBe(false);
    const pods = server.store.list('pods', NS).map((p) => p.metadata.name);
    expect(pods).not.toContain('dify-api-0');
    expect(pods).not.toContain('dify-worker-0');
  }, 120_000);
});
