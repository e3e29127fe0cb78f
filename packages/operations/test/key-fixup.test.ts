import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { normalizeFsPath, readStorageReferences } from '@dify-storage/dify';
import { readMigrateConfig, runMigrate, type Logger } from '@dify-storage/operations';
import { syncFromBucket } from '@dify-storage/sync';
import { checkReferences } from '@dify-storage/verify';
import pg from 'pg';
import { testEnv } from '../../../action-tests/src/proving-ground/index.js';
import { createDifyDatabase } from '../../../action-tests/src/proving-ground/database.js';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
} from '../../../action-tests/src/proving-ground/s3.js';

const log: Logger = { info: () => undefined, warn: () => undefined };

/** dify-1.3.0-fidelity.md §3: OpenDAL fs trims and collapses the key, boto3 does not. */
describe('key fix-up after the tree copy (real PostgreSQL and RGW)', () => {
  let client: S3Client;
  let bucket: string;
  let work: string;
  let root: string;
  let db: { url: string; drop(): Promise<void> };
  const tenant = randomUUID();
  const t = (name: string) => `upload_files/${tenant}/${name}`;
  const differing = [
    t('a.pdf '),
    `upload_files//${tenant}.png`,
    `/${t('lead.txt')}`,
    t('n.md\u3000'),
  ];
  const unrepresentable = t('\u0001ctl.pdf ');
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client, 'fixup');
    db = await createDifyDatabase('fixup');
    work = await mkdtemp(path.join(os.tmpdir(), 'fixup-'));
    root = path.join(work, 'storage');
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      for (const key of [...differing, unrepresentable, t('plain.txt'), t('gone.pdf ')]) {
        await sql.query(
          `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by)
           VALUES ($1, 'opendal', $2, 'n', 1, 'x', $1)`,
          [tenant, key],
        );
        // Broken before the migration; and a control character would break every listing of
        // the bucket (XML 1.0), so the tree copy must never meet one either.
        if (key === t('gone.pdf ') || key === unrepresentable) continue;
        const body = randomBytes(2000);
        bodies.set(key, body);
        const file = path.join(root, normalizeFsPath(key));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, body);
      }
    } finally {
      await sql.end();
    }
  });

  afterAll(async () => {
    await deleteTestBucket(client, bucket);
    client.destroy();
    await db.drop();
    await rm(work, { recursive: true, force: true });
  });

  const migrate = (extra: Record<string, string> = {}) => {
    const e = testEnv();
    const inputs: Record<string, string> = {
      'storage-path': root,
      bucket,
      endpoint: e.DSM_S3_ENDPOINT,
      'access-key-id': e.DSM_S3_ACCESS_KEY,
      'secret-access-key': e.DSM_S3_SECRET_KEY,
      'state-dir': path.join(work, 'state'),
      'report-path': path.join(work, 'report.json'),
      'database-url': db.url,
      ...extra,
    };
    return runMigrate(
      readMigrateConfig(
        (n) => inputs[n] ?? '',
        {},
        () => undefined,
      ),
      log,
    );
  };

  it('puts each key whose fs path differs at the verbatim key; reports what S3 cannot hold', async () => {
    const dry = await migrate({ 'dry-run': 'true' });
    expect(dry.mode !== 'verify' && dry.keyFixUp?.copied).toBe(4);
    const r = await migrate();
    if (r.mode === 'verify') throw new Error('unexpected mode');
    expect(r.keyFixUp).toMatchObject({
      differing: 6,
      copied: 4,
      present: 0,
      preExisting: 1,
      failed: [],
      unrepresentable: [{ key: unrepresentable, reason: expect.stringContaining('control') }],
    });
    expect(r.text).toContain('key fix-up: 6 of 7 database keys differ');
    for (const key of differing) {
      const o = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(Buffer.from(await o.Body!.transformToByteArray()).equals(bodies.get(key)!)).toBe(true);
    }
    // The tree copy itself stays a tree copy: the normalized paths are there too.
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: t('a.pdf') }));
    // Again: nothing to do.
    const again = await migrate();
    expect(again.mode !== 'verify' && again.keyFixUp).toMatchObject({ copied: 0, present: 4 });
    // The reference check now passes; the rows with no file are pre-existing.
    const check = await checkReferences({
      references: readStorageReferences(db.url),
      storagePath: root,
      client,
      bucket,
      readBack: 'none',
    });
    expect(check.failures).toEqual([]);
    expect(check.preExisting.map((f) => f.key).sort()).toEqual(
      [unrepresentable, t('gone.pdf ')].sort(),
    );
    // migrate --mode verify does not count the fix-up copies as extra objects.
    const verified = await migrate({ mode: 'verify' });
    expect(verified.mode === 'verify' && verified.report.counts.extra).toBe(0);
  });

  it('rollback copies an object back to the fs path Dify reads (the reverse)', async () => {
    const back = path.join(work, 'back');
    await mkdir(back);
    const e = testEnv();
    await syncFromBucket({
      target: {
        bucket,
        region: 'us-east-1',
        endpoint: e.DSM_S3_ENDPOINT,
        forcePathStyle: true,
        credentials: { accessKeyId: e.DSM_S3_ACCESS_KEY, secretAccessKey: e.DSM_S3_SECRET_KEY },
      },
      root: back,
      keyToPath: normalizeFsPath,
    });
    const tenantFiles = (await readdir(path.join(back, 'upload_files', tenant))).sort();
    expect(tenantFiles).toEqual(['a.pdf', 'lead.txt', 'n.md', 'plain.txt']);
    expect((await readFile(path.join(back, 'upload_files', `${tenant}.png`))).length).toBe(2000);
  });
});
