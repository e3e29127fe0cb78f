/** A fake cluster holding the runbook's install, a fresh RGW bucket and storage dir, and a config for them. */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { waitForRollout, type KubeClient, type KubeObject } from '@dify-storage/kube';
import { difyKeysOf, type ConvertConfig, type Logger } from '../src/index.js';
import { testEnv } from '../../../action-tests/src/proving-ground/index.js';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
} from '../../../action-tests/src/proving-ground/s3.js';
import { seedInstall, startCluster, type TestCluster } from '../../kube/test/support/cluster.js';

export const NS = 'dify';

export interface ConvertFixture {
  cluster: TestCluster;
  client: KubeClient;
  s3: S3Client;
  bucket: string;
  storageDir: string;
  stateDir: string;
  kubeconfig: string;
  config(overrides?: Partial<ConvertConfig>): ConvertConfig;
  close(): Promise<void>;
}

export async function startFixture(): Promise<ConvertFixture> {
  const cluster = await startCluster();
  await seedInstall(cluster.client, NS);
  // The simulated controller starts the pods.
  for (const name of ['dify-api', 'dify-worker']) {
    await waitForRollout(cluster.client, {
      namespace: NS,
      kind: 'StatefulSet',
      name,
      timeoutMs: 5000,
      intervalMs: 20,
    });
  }
  const s3 = testS3Client();
  const bucket = await createTestBucket(s3, 'convert');
  const work = await mkdtemp(path.join(os.tmpdir(), 'convert-'));
  const storageDir = path.join(work, 'storage');
  const stateDir = path.join(work, 'state');
  await mkdir(storageDir);
  const kubeconfig = await readFile(cluster.server.kubeconfigPath, 'utf8');
  const env = testEnv();
  return {
    cluster,
    client: cluster.client,
    s3,
    bucket,
    storageDir,
    stateDir,
    kubeconfig,
    config: (overrides = {}) => {
      const config: ConvertConfig = {
        phase: 'plan',
        kube: { kubeconfig, namespace: NS },
        apiName: 'dify-api',
        workerName: 'dify-worker',
        secretName: 'dify-s3-credentials',
        storageMountPath: '/app/api/storage',
        storagePath: storageDir,
        s3: {
          bucket,
          endpoint: env.DSM_S3_ENDPOINT,
          region: env.DSM_S3_REGION,
          forcePathStyle: true,
          credentials: {
            accessKeyId: env.DSM_S3_ACCESS_KEY,
            secretAccessKey: env.DSM_S3_SECRET_KEY,
          },
        },
        stateDir,
        rolloutTimeoutSeconds: 30,
        lockTtlSeconds: 60,
        runId: 'run-1',
        ...overrides,
      };
      return 'difyKeys' in overrides ? config : { ...difyKeysOf(config.s3), ...config };
    },
    async close() {
      await cluster.close();
      await deleteTestBucket(s3, bucket).catch(() => undefined);
      s3.destroy();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Logger that keeps the lines, so tests can check nothing secret was printed. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (l) => lines.push(l),
    warn: (l) => lines.push(`WARN ${l}`),
  };
}

/** resourceVersion (uid for Pods) of every object the migration could touch, by kind/name. */
export async function resourceVersions(client: KubeClient): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const kind of [
    'StatefulSet',
    'Deployment',
    'ConfigMap',
    'Secret',
    'Service',
    'Pod',
    'Lease',
  ] as const) {
    for (const o of await client.list<KubeObject>(kind, NS)) {
      // A Pod by identity: its status is the kubelet's to change, deleting or replacing it ours.
      out[`${kind}/${o.metadata?.name}`] =
        (kind === 'Pod' ? o.metadata?.uid : o.metadata?.resourceVersion) ?? '';
    }
  }
  return out;
}
