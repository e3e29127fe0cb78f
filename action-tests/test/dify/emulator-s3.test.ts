import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '@dify-storage/s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/dify/config.js';
import { signFileParams } from '../../src/dify/signing.js';
import { createStorage } from '../../src/dify/storage/index.js';
import { createTenant } from '../../src/dify/tenants.js';
import {
  createTestDatabase,
  env,
  readAll,
  redisEnv,
  s3Env,
  spawnEmulator,
  startApi,
  startWorker,
  tempDir,
  waitFor,
  type RunningEmulator,
  type TestDatabase,
} from './support.js';

const SECRET = 'sk-s3-secret';
const ADMIN = 'admin-token-s3';

async function emptyBucket(s3: S3Client, bucket: string): Promise<void> {
  const { ListObjectsV2Command, DeleteBucketCommand } = await import('@aws-sdk/client-s3');
  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of list?.Contents ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
}

describe('Dify emulator on S3 (STORAGE_TYPE=s3, Ceph RGW)', () => {
  const bucket = `dify-emu-${randomBytes(4).toString('hex')}`;
  let s3: S3Client;
  let db: TestDatabase;
  let cwd: { dir: string; remove(): Promise<void> };
  let vars: Record<string, string>;
  let api: RunningEmulator & { base: string };
  let worker: RunningEmulator | undefined;
  let ws: { tenant_id: string; app_api_key: string; dataset_id: string; dataset_api_key: string };

  beforeAll(async () => {
    s3 = createS3Client({
      endpoint: env('DSM_S3_ENDPOINT'),
      region: env('DSM_S3_REGION'),
      forcePathStyle: true,
      credentials: {
        accessKeyId: env('DSM_S3_ACCESS_KEY'),
        secretAccessKey: env('DSM_S3_SECRET_KEY'),
      },
    });
    db = await createTestDatabase();
    cwd = await tempDir('dify-s3-');
    vars = {
      ...db.difyEnv,
      ...(await redisEnv()),
      ...s3Env(bucket),
      SECRET_KEY: SECRET,
      DIFY_EMULATOR_ADMIN_TOKEN: ADMIN,
    };
    // The bucket does not exist yet: the api creates it on HeadBucket 404, as Dify does.
    api = await startApi(cwd.dir, vars);
    const res = await fetch(`${api.base}/console/api/workspaces`, {
      method: 'POST',
      headers: { 'X-Emulator-Admin-Token': ADMIN },
    });
    ws = (await res.json()) as typeof ws;
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await db?.drop();
    await cwd?.remove();
    if (s3) {
      await emptyBucket(s3, bucket);
      s3.destroy();
    }
  });

  async function upload(name: string, content: Buffer) {
    const form = new FormData();
    form.append('file', new Blob([content], { type: 'text/plain' }), name);
    const res = await fetch(`${api.base}/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ws.app_api_key}` },
      body: form,
    });
    expect(res.status).toBe(201);
    const file = (await res.json()) as { id: string };
    const { rows } = await db.pool.query(`SELECT * FROM upload_files WHERE id = $1`, [file.id]);
    return rows[0] as { id: string; key: string; storage_type: string; size: number };
  }

  it('creates the missing bucket at start and logs the S3 credential mode', async () => {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    expect(api.stdout()).toContain('Using ak and sk for S3');
  });

  it('stores uploads and private keys in the bucket, not on disk', async () => {
    const content = Buffer.from('to the bucket\n'.repeat(100));
    const row = await upload('a file  with spaces.txt', content);
    expect(row.storage_type).toBe('s3');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: row.key }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(content)).toBe(true);
    await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: `privkeys/${ws.tenant_id}/private.pem` }),
    );
    expect(existsSync(path.join(cwd.dir, 'storage', 'upload_files'))).toBe(false);
  });

  it('creates a tenant through the library on S3 storage (privkey lands in the bucket)', async () => {
    const storage = await createStorage(loadConfig(vars, cwd.dir));
    try {
      const t = await createTenant(db.pool, storage, { name: 'late tenant' });
      await s3.send(
        new HeadObjectCommand({ Bucket: bucket, Key: `privkeys/${t.tenantId}/private.pem` }),
      );
    } finally {
      storage.close();
    }
  });

  it('serves previews from S3; a deleted object gets an empty reply (no status at all)', async () => {
    const content = randomBytes(200 * 1024);
    const row = await upload('rand.txt', content);
    const q = () => new URLSearchParams({ ...signFileParams(SECRET, row.id) }).toString();
    const ok = await fetch(`${api.base}/files/${row.id}/file-preview?${q()}`);
    const full = await readAll(ok);
    expect(full.broken).toBe(false);
    expect(full.body.equals(content)).toBe(true);

    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: row.key }));
    await expect(fetch(`${api.base}/files/${row.id}/file-preview?${q()}`)).rejects.toThrow();
  });

  it('indexes from S3 (completed) and fails with a 404 ClientError when the object is gone', async () => {
    const send = async (name: string) => {
      const form = new FormData();
      form.append(
        'file',
        new Blob([Buffer.from(`# ${name}\n\nbody line one\nbody line two\n`)]),
        name,
      );
      form.append(
        'data',
        JSON.stringify({ indexing_technique: 'economy', process_rule: { mode: 'automatic' } }),
      );
      const res = await fetch(`${api.base}/v1/datasets/${ws.dataset_id}/document/create-by-file`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ws.dataset_api_key}` },
        body: form,
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { document: { id: string }; batch: string };
    };
    const status = async (batch: string) => {
      const res = await fetch(
        `${api.base}/v1/datasets/${ws.dataset_id}/documents/${batch}/indexing-status`,
        {
          headers: { Authorization: `Bearer ${ws.dataset_api_key}` },
        },
      );
      return ((await res.json()) as { data: { indexing_status: string; error: string | null }[] })
        .data[0]!;
    };
    const lost = await send('lost.md');
    const { rows } = await db.pool.query(
      `SELECT u.key FROM documents d JOIN upload_files u ON u.id = (d.data_source_info::json->>'upload_file_id')::uuid WHERE d.id = $1`,
      [lost.document.id],
    );
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: rows[0].key }));
    const kept = await send('kept.md');
    worker = await startWorker(cwd.dir, vars);
    expect(worker.stdout()).toContain('Using ak and sk for S3');
    const failed = await waitFor('error status', async () => {
      const s = await status(lost.batch);
      return s.indexing_status === 'error' ? s : undefined;
    });
    expect(failed.error).toBe(
      'An error occurred (404) when calling the HeadObject operation: Not Found',
    );
    await waitFor(
      'completed status',
      async () => (await status(kept.batch)).indexing_status === 'completed',
    );
  });

  it('trusts a private CA only through AWS_CA_BUNDLE or REQUESTS_CA_BUNDLE, as botocore does', async () => {
    const tls = { ...vars, S3_ENDPOINT: env('DSM_S3_TLS_ENDPOINT') };
    const caFile = env('DSM_S3_CA_FILE');
    const roundTrip = async (extra: Record<string, string>) => {
      const storage = await createStorage(loadConfig({ ...tls, ...extra }, cwd.dir));
      try {
        await storage.save('upload_files/ca/probe.txt', Buffer.from('over TLS'));
        return (await storage.loadOnce('upload_files/ca/probe.txt')).toString();
      } finally {
        storage.close();
      }
    };
    // Without a bundle botocore uses certifi: the private CA is unknown and start-up fails.
    await expect(roundTrip({})).rejects.toMatchObject({
      pythonType: 'botocore.exceptions.SSLError',
      message: expect.stringContaining('[SSL: CERTIFICATE_VERIFY_FAILED]'),
    });
    expect(await roundTrip({ AWS_CA_BUNDLE: caFile })).toBe('over TLS');
    expect(await roundTrip({ REQUESTS_CA_BUNDLE: caFile })).toBe('over TLS');
    // AWS_CA_BUNDLE wins over REQUESTS_CA_BUNDLE, even when it names no readable file.
    await expect(
      roundTrip({ AWS_CA_BUNDLE: path.join(cwd.dir, 'missing.pem'), REQUESTS_CA_BUNDLE: caFile }),
    ).rejects.toMatchObject({ pythonType: 'botocore.exceptions.SSLError' });
    const emu = spawnEmulator('api', cwd.dir, tls);
    expect(await emu.exited).not.toBe(0);
    expect(emu.stderr()).toContain(
      'botocore.exceptions.SSLError: SSL validation failed for https://',
    );
  });

  it('exits non-zero at start when the S3 endpoint is unreachable, naming the error', async () => {
    const emu = spawnEmulator('api', cwd.dir, { ...vars, S3_ENDPOINT: 'http://127.0.0.1:9' });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      emu.exited,
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 25_000))),
    ]);
    clearTimeout(timer);
    if (code === 'timeout') await emu.stop();
    expect(code).not.toBe('timeout');
    expect(code).not.toBe(0);
    expect(emu.stderr()).toContain('Traceback (most recent call last):');
    expect(emu.stderr()).toContain(
      'botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:9/',
    );
  });
});
