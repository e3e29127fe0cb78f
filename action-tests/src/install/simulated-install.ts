import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '@dify-storage/s3';
import { Redis } from 'ioredis';
import { createDbPoolFromUrl } from '../dify/db.js';
import { difyRuntime } from '../dify/runtime.js';
import { seedInstall, type SeedSummary } from '../dify/seed.js';
import {
  startFakeApiServer,
  startSimulator,
  type FakeApiServer,
  type FakeApiServerOptions,
  type Simulator,
} from '../kube/index.js';
import { createDifyDatabase } from '../proving-ground/database.js';
import type { ProvingGroundEnv } from '../proving-ground/index.js';
import {
  CONFIG_MAP,
  NAMESPACE,
  fixtureObjects,
  storageLocation,
  type InstallShape,
} from './fixture.js';
import { startServiceProxy } from './service-proxy.js';

export interface SimulatedInstall {
  namespace: string;
  node: string;
  kubeconfigPath: string;
  shape: InstallShape;
  /** The storage directory as a runner on the node (or with the NFS export mounted) sees it. */
  storagePath: string;
  /** The Dify api through its Service. */
  difyUrl: string;
  secretKey: string;
  /** Guards the emulator's workspace-creation endpoint (POST /console/api/workspaces). */
  adminToken: string;
  databaseUrl: string;
  bucket: string;
  /**
   * The bucket's gateway: `endpoint` over plain HTTP (for a test's own checks), `tlsEndpoint`
   * with a certificate from the private CA in `caFile` (what the operations are given).
   */
  s3: {
    endpoint: string;
    tlsEndpoint: string;
    caFile: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    /** Keys that may read but not write the bucket (what the plan job gets). */
    read: { accessKeyId: string; secretAccessKey: string };
  };
  seeded: SeedSummary;
  server: FakeApiServer;
  sim: Simulator;
  workDir: string;
  /** Waits until the api answers /health through its Service. */
  waitForApi(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface SimulatedInstallOptions {
  env: ProvingGroundEnv;
  seed?: string;
  files?: number;
  hugeFiles?: number;
  /** Simulated controller time per Kubernetes second (progress deadlines, back-off). */
  timeScale?: number;
  onLog?: (line: string) => void;
  /** The install's shape (fixture.ts); default the runbook's hostPath. */
  shape?: InstallShape;
  /** Changes the fixture's objects before they are created (a test adds Secrets, env, args). */
  editObjects?: (objects: Record<string, unknown>[]) => Record<string, unknown>[];
  /** Identities, RBAC and the access record of the fake API server. */
  kube?: Pick<FakeApiServerOptions, 'users' | 'authorize' | 'onAccess'>;
}

/** A Redis database of its own for this install: Dify's Celery queue name is fixed. */
async function redisDb(url: string): Promise<Record<string, string>> {
  const u = new URL(url);
  const r = new Redis({ host: u.hostname, port: Number(u.port), db: 0, lazyConnect: true });
  await r.connect();
  const n = await r.incr('dsm:dify-emulator-test-db');
  const db = ((n - 1) % 15) + 1;
  await r.select(db);
  await r.flushdb();
  r.disconnect();
  return { REDIS_HOST: u.hostname, REDIS_PORT: u.port, REDIS_DB: String(db) };
}

/**
 * A whole Dify 1.3.0 install on the proving ground: the fake cluster of the runbook's shape,
 * its pods running the Dify emulator on a simulated node's hostPath, seeded with data, and an
 * empty bucket to migrate to.
 */
export async function startSimulatedInstall(o: SimulatedInstallOptions): Promise<SimulatedInstall> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'dify-install-'));
  const node = 'node-a';
  const shape = o.shape ?? 'hostpath';
  const nodeDir = path.join(workDir, 'nodes', node);
  const nfsDir = path.join(workDir, 'nfs');
  const where = storageLocation(shape);
  const storagePath = path.join(where.on === 'nfs' ? nfsDir : nodeDir, where.path);
  await mkdir(storagePath, { recursive: true });
  const cleanups: (() => Promise<void>)[] = [() => rm(workDir, { recursive: true, force: true })];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const db = await createDifyDatabase('dify_install', o.env);
    cleanups.push(db.drop);
    const pool = createDbPoolFromUrl(db.url, 4);
    let seeded: SeedSummary;
    try {
      seeded = await seedInstall({
        db: pool,
        storageRoot: storagePath,
        seed: o.seed ?? 'demo',
        files: o.files ?? 60,
        hugeFiles: o.hugeFiles ?? 0,
        tenants: 2,
      });
    } finally {
      await pool.end();
    }
    const dbUrl = new URL(db.url);
    const secretKey = `sk-${randomBytes(16).toString('hex')}`;
    const env: Record<string, string> = {
      DB_USERNAME: decodeURIComponent(dbUrl.username),
      DB_PASSWORD: decodeURIComponent(dbUrl.password),
      DB_HOST: dbUrl.hostname,
      DB_PORT: dbUrl.port,
      DB_DATABASE: dbUrl.pathname.slice(1),
      ...(await redisDb(o.env.DSM_REDIS_URL)),
      SECRET_KEY: secretKey,
      DIFY_EMULATOR_ADMIN_TOKEN: `adm-${randomBytes(8).toString('hex')}`,
    };

    const s3 = createS3Client({
      endpoint: o.env.DSM_S3_ENDPOINT,
      region: o.env.DSM_S3_REGION,
      forcePathStyle: true,
      credentials: {
        accessKeyId: o.env.DSM_S3_ACCESS_KEY,
        secretAccessKey: o.env.DSM_S3_SECRET_KEY,
      },
    });
    const bucket = `dify-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();

    const server = await startFakeApiServer({ ...o.kube });
    cleanups.push(() => server.close());
    const ports = new Map<string, number>();
    const sim = startSimulator({
      server,
      nodes: { [node]: nodeDir },
      runtimes: {
        'langgenius/dify-api:*': difyRuntime({ onListen: (c, p) => ports.set(c.podName, p) }),
      },
      timeScale: o.timeScale ?? 0.02,
      stateDir: path.join(workDir, 'simulator'),
      nfsDir,
      ...(o.onLog ? { onLog: (l) => o.onLog!(`${l.pod}/${l.container}: ${l.line}`) } : {}),
    });
    cleanups.push(() => sim.stop());
    const objects = fixtureObjects({ node, env, shape });
    for (const obj of o.editObjects ? o.editObjects(objects) : objects) {
      const kind = String(obj.kind);
      if (
        kind === 'Namespace' &&
        server.api
          .list('namespaces', undefined)
          .items.some(
            (n: unknown) => (n as { metadata?: { name?: string } }).metadata?.name === NAMESPACE,
          )
      )
        continue;
      const resource = {
        Namespace: 'namespaces',
        ConfigMap: 'configmaps',
        Secret: 'secrets',
        CronJob: 'cronjobs',
        StatefulSet: 'statefulsets',
        Deployment: 'deployments',
        Service: 'services',
        StorageClass: 'storageclasses',
        PersistentVolume: 'persistentvolumes',
        PersistentVolumeClaim: 'persistentvolumeclaims',
      }[kind]!;
      const clusterScoped = ['Namespace', 'StorageClass', 'PersistentVolume'].includes(kind);
      server.api.create(resource as never, clusterScoped ? undefined : NAMESPACE, obj);
    }
    const proxy = await startServiceProxy({
      server,
      namespace: NAMESPACE,
      selector: { app: 'dify-api' },
      ports,
    });
    cleanups.push(() => proxy.close());

    const install: SimulatedInstall = {
      namespace: NAMESPACE,
      node,
      shape,
      kubeconfigPath: server.kubeconfigPath,
      storagePath,
      difyUrl: proxy.url,
      secretKey,
      adminToken: env.DIFY_EMULATOR_ADMIN_TOKEN!,
      databaseUrl: db.url,
      bucket,
      s3: {
        endpoint: o.env.DSM_S3_ENDPOINT,
        tlsEndpoint: o.env.DSM_S3_TLS_ENDPOINT,
        caFile: o.env.DSM_S3_CA_FILE,
        region: o.env.DSM_S3_REGION,
        accessKeyId: o.env.DSM_S3_ACCESS_KEY,
        secretAccessKey: o.env.DSM_S3_SECRET_KEY,
        read: {
          accessKeyId: o.env.DSM_S3_READ_ACCESS_KEY,
          secretAccessKey: o.env.DSM_S3_READ_SECRET_KEY,
        },
      },
      seeded,
      server,
      sim,
      workDir,
      waitForApi: async (timeoutMs = 60_000) => {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          try {
            if ((await fetch(`${proxy.url}/health`, { signal: AbortSignal.timeout(2000) })).ok)
              return;
          } catch {
            // not up yet
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`the Dify api did not answer /health within ${timeoutMs} ms`);
      },
      stop,
    };
    await install.waitForApi();
    return install;
  } catch (error) {
    await stop();
    throw error;
  }
}

export { CONFIG_MAP, NAMESPACE };

/**
 * The action inputs every operation reads, pointed at this install (as a runner on its node
 * would pass them); `extra` adds or overrides inputs. The bucket is reached over TLS with a
 * private CA, as self-hosted MinIO/RGW often is: every end-to-end run exercises `ca-bundle`, the
 * probe pod and the CA mounted into Dify.
 */
export function installInputValues(
  install: SimulatedInstall,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    namespace: install.namespace,
    kubeconfig: install.kubeconfigPath,
    bucket: install.bucket,
    endpoint: install.s3.tlsEndpoint,
    'ca-bundle': install.s3.caFile,
    region: install.s3.region,
    'access-key-id': install.s3.accessKeyId,
    'secret-access-key': install.s3.secretAccessKey,
    'storage-path': install.storagePath,
    'state-dir': path.join(install.workDir, 'state'),
    'backup-dir': path.join(install.workDir, 'backups'),
    'node-name': install.node,
    'rollout-timeout': '120',
    'dify-url': install.difyUrl,
    'dify-secret-key': install.secretKey,
    'database-url': install.databaseUrl,
    ...extra,
  };
}

/** The same as an input reader for `readXConfig`. */
export function installInputs(
  install: SimulatedInstall,
  extra: Record<string, string> = {},
): (name: string) => string {
  const values = installInputValues(install, extra);
  return (name) => values[name] ?? '';
}

/**
 * Everything the CLI needs to work against the install, as its DIFY_STORAGE_* variables (the
 * action inputs, plus the first tenant's app and dataset API keys for verify's probes).
 */
export function installCliEnv(install: SimulatedInstall): Record<string, string> {
  const tenant = install.seeded.tenants[0]!;
  const values = installInputValues(install, {
    'app-api-key': tenant.appApiKey,
    'dataset-api-key': tenant.datasetApiKey,
  });
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [
      `DIFY_STORAGE_${k.toUpperCase().replace(/-/g, '_')}`,
      v,
    ]),
  );
}

/** A file to `source` in a shell: one `export NAME='value'` a line, single quotes escaped. */
export function renderEnvFile(vars: Record<string, string>): string {
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  return `${Object.entries(vars)
    .map(([k, v]) => `export ${k}=${quote(v)}`)
    .join('\n')}\n`;
}

/** An S3 client of the install's bucket (plain HTTP, the proving ground's keys), for checks. */
export function installS3Client(install: SimulatedInstall): S3Client {
  return createS3Client({
    endpoint: install.s3.endpoint,
    region: install.s3.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: install.s3.accessKeyId,
      secretAccessKey: install.s3.secretAccessKey,
    },
  });
}

/**
 * The secrets the reusable workflow takes, for this install: `kubeconfig` is the reader's (the
 * jobs before the approval), `write` the environment secret DIFY_KUBECONFIG_WRITE of the gates.
 */
export function installWorkflowSecrets(
  install: SimulatedInstall,
  kubeconfig: { read: string; write: string } = {
    read: install.kubeconfigPath,
    write: install.kubeconfigPath,
  },
): Record<string, string> {
  return {
    kubeconfig: kubeconfig.read,
    DIFY_KUBECONFIG_WRITE: kubeconfig.write,
    's3-access-key-id': install.s3.accessKeyId,
    's3-secret-access-key': install.s3.secretAccessKey,
    's3-read-access-key-id': install.s3.read.accessKeyId,
    's3-read-secret-access-key': install.s3.read.secretAccessKey,
    'dify-app-api-key': install.seeded.tenants[0]!.appApiKey,
    'dify-dataset-api-key': install.seeded.tenants[0]!.datasetApiKey,
    'dify-secret-key': install.secretKey,
    'dify-database-url': install.databaseUrl,
  };
}
