/**
 * Shared steps of the rollback suites: a simulated install migrated to S3 the way the demo does
 * it (backup, bulk copy, cutover), writes made while it runs on S3, and the observations the
 * suites compare (the storage tree with hashes, the cluster objects, the bucket).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ManifestReader } from '@dify-storage/backup';
import {
  readBackupConfig,
  readConvertConfig,
  readMigrateConfig,
  runBackup,
  runConvert,
  runMigrate,
  type Logger,
} from '@dify-storage/operations';
import pg from 'pg';
import { normalizePath } from '../../src/dify/index.js';
import { buildDocx } from '../../src/dify/docx.js';
import {
  createDocumentByFile,
  createDocumentByText,
  createWorkspace,
  uploadThroughDify,
} from '../../src/install/dify-client.js';
import {
  installInputValues,
  installS3Client,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { testEnv } from '../../src/proving-ground/index.js';

export const noMask = (): undefined => undefined;

/** Quiet unless DSM_TEST_VERBOSE is set: the operations log a lot. */
export const log: Logger = {
  info: (l) => {
    if (process.env.DSM_TEST_VERBOSE) process.stdout.write(`    ${l}\n`);
  },
  warn: (l) => {
    if (process.env.DSM_TEST_VERBOSE) process.stdout.write(`    warning: ${l}\n`);
  },
};

/** The action inputs every operation of these suites reads (as the demo passes them). */
export function inputValues(
  install: SimulatedInstall,
  extra: Record<string, string> = {},
): Record<string, string> {
  return installInputValues(install, {
    // Simulated seconds (× timeScale 0.1): 30 s of real progress deadline, as the shape suites
    // give it; 6 s was too short for the emulator to start on a loaded machine.
    'rollout-timeout': '300',
    'report-path': path.join(install.workDir, 'rollback-report.json'),
    ...extra,
  });
}

export function reader(values: Record<string, string>): (name: string) => string {
  return (name) => values[name] ?? '';
}

export interface Migrated {
  install: SimulatedInstall;
  backupId: string;
  manifestPath: string;
  /** Uploads made through Dify while it ran on S3 (tenant 0's app key). */
  uploadsOnS3: { id: string; size: number }[];
  /** The tenant created while Dify ran on S3. */
  newTenant: { tenant_id: string; app_api_key: string; dataset_api_key: string };
  s3: S3Client;
}

/** A fresh install, backed up, bulk copied and cut over to S3, then used on S3. */
export async function migratedInstall(files: number): Promise<Migrated> {
  const install = await startSimulatedInstall({ env: testEnv(), files, timeScale: 0.1 });
  try {
    const read = (extra: Record<string, string>) => reader(inputValues(install, extra));
    const backup = await runBackup(readBackupConfig(read({}), {}, noMask), log);
    const migrated = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log);
    if (migrated.mode === 'verify' || !migrated.report.ok) throw new Error('bulk copy failed');
    const cut = await runConvert(
      readConvertConfig(
        read({ phase: 'cutover', 'backup-id': backup.backup!.record.id }),
        {},
        noMask,
      ),
      log,
    );
    void cut;
    await install.waitForApi();
    const tenant = install.seeded.tenants[0]!;
    const uploadsOnS3: { id: string; size: number }[] = [];
    for (let i = 0; i < 4; i++) {
      uploadsOnS3.push(
        await uploadThroughDify(
          install,
          tenant.appApiKey,
          `on-s3-${i}.bin`,
          randomBytes(1000 + i * 777),
        ),
      );
    }
    // What real Dify writes besides API uploads: a create-by-text document (size in
    // characters) and a docx whose images the worker stores (size 0), on S3 now.
    const docs = [
      await createDocumentByText(
        install,
        tenant,
        '切换之后',
        '写在对象存储上的中文文档。'.repeat(12),
      ),
      await createDocumentByFile(
        install,
        tenant,
        '切换之后.docx',
        buildDocx([
          { text: '切换之后的图文。' },
          { image: { target: 'media/image1.png', data: randomBytes(700) } },
        ]),
      ),
    ];
    if (docs.some((d) => d.status !== 'completed')) throw new Error('indexing on S3 failed');
    const newTenant = await createWorkspace(install, 'created-on-s3');
    uploadsOnS3.push(
      await uploadThroughDify(install, newTenant.app_api_key, 'new-tenant.txt', randomBytes(3000)),
    );
    const s3 = installS3Client(install);
    return {
      install,
      backupId: backup.backup!.record.id,
      manifestPath: backup.backup!.manifestPath,
      uploadsOnS3,
      newTenant,
      s3,
    };
  } catch (error) {
    await install.stop();
    throw error;
  }
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function hashFile(file: string, algorithm = 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under `dir` (hidden ones too) → sha256; symlinks and others by kind. */
export async function treeOf(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const rel = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    if (e.isFile()) out.set(rel, await hashFile(path.join(e.parentPath, e.name)));
    else if (!e.isDirectory()) out.set(rel, `(${e.isSymbolicLink() ? 'symlink' : 'special'})`);
  }
  return out;
}

export async function bucketObjects(s3: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    if (!r.IsTruncated) return keys;
    token = r.NextContinuationToken;
  }
  throw new Error('listing did not end');
}

export async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/**
 * What the storage directory must hold after a rollback: every file of the backup's manifest,
 * overlaid by every object of the bucket whose key is a safe relative path (the bucket holds
 * what was written on S3 after the cutover). `unsafe` keys are left out.
 */
export async function expectedTree(
  m: Migrated,
  unsafe: ReadonlySet<string> = new Set(),
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const r of new ManifestReader(m.manifestPath).records()) {
    if (r.type === 'file') out.set(r.path, r.sha256);
  }
  for (const key of await bucketObjects(m.s3, m.install.bucket)) {
    if (unsafe.has(key)) continue;
    // Back at the path Dify on OpenDAL fs reads the key from (`upload_files//x` → `upload_files/x`).
    out.set(normalizePath(key), sha256(await getObject(m.s3, m.install.bucket, key)));
  }
  return out;
}

export interface ClusterView {
  deployments: string[];
  statefulSets: Record<string, { replicas: number | undefined; volumes: unknown }>;
  configMap: Record<string, string>;
  secrets: string[];
  leases: string[];
}

/** The objects a rollback touches, as the fake API server holds them. */
export function clusterView(install: SimulatedInstall): ClusterView {
  const store = install.server.store;
  const ns = install.namespace;
  const names = (r: string) => store.list(r, ns).map((o) => o.metadata.name as string);
  const sts: ClusterView['statefulSets'] = {};
  for (const o of store.list('statefulsets', ns)) {
    const spec = (
      o as { spec?: { replicas?: number; template?: { spec?: { volumes?: unknown } } } }
    ).spec;
    sts[o.metadata.name as string] = {
      replicas: spec?.replicas,
      volumes: spec?.template?.spec?.volumes,
    };
  }
  const cm = store.list('configmaps', ns).find((o) => o.metadata.name === 'dify-shared-config');
  return {
    deployments: names('deployments'),
    statefulSets: sts,
    configMap: ((cm as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<
      string,
      string
    >,
    secrets: names('secrets'),
    leases: names('leases'),
  };
}

/** resourceVersion of every object in the namespace, to prove nothing changed. */
export function resourceVersions(install: SimulatedInstall): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of ['deployments', 'statefulsets', 'configmaps', 'secrets', 'services', 'leases']) {
    for (const o of install.server.store.list(r, install.namespace)) {
      out[`${r}/${o.metadata.name as string}`] = String(o.metadata.resourceVersion);
    }
  }
  return out;
}

export interface UploadRow {
  id: string;
  key: string;
  size: number;
  hash: string | null;
}

export async function uploadRows(install: SimulatedInstall): Promise<UploadRow[]> {
  const client = new pg.Client({ connectionString: install.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<UploadRow>(
      `SELECT id::text AS id, key, size, NULLIF(hash, '') AS hash FROM upload_files ORDER BY key`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

export async function tenantPublicKey(
  install: SimulatedInstall,
  tenantId: string,
): Promise<string> {
  const client = new pg.Client({ connectionString: install.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ k: string }>(
      'SELECT encrypt_public_key AS k FROM tenants WHERE id = $1',
      [tenantId],
    );
    return rows[0]!.k;
  } finally {
    await client.end();
  }
}

/** The pre-migration ConfigMap of the fixture, as its snapshot in the backup holds it. */
export function isHostPathConfig(data: Record<string, string>): boolean {
  return (
    data.OPENDAL_SCHEME === 'fs' &&
    data.STORAGE_TYPE === 'opendal' &&
    !Object.keys(data).some((k) => k.startsWith('S3_'))
  );
}

export { hashFile };
