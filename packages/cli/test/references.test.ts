import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { cli } from './support.js';
import pg from 'pg';
import { testEnv } from '../../../action-tests/src/proving-ground/index.js';
import { createDifyDatabase } from '../../../action-tests/src/proving-ground/database.js';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
} from '../../../action-tests/src/proving-ground/s3.js';

describe('dify-storage references (real PostgreSQL and RGW)', () => {
  let client: S3Client;
  let bucket: string;
  let root: string;
  let db: { url: string; drop(): Promise<void> };
  let env: NodeJS.ProcessEnv;
  const tenant = randomUUID();
  const spaced = `upload_files/${tenant}/a.pdf `;

  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client, 'cli-refs');
    db = await createDifyDatabase('cli_refs');
    root = await mkdtemp(path.join(tmpdir(), 'cli-refs-'));
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      await sql.query(
        `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by)
         VALUES ($1, 'opendal', $2, 'a.pdf ', 3, 'pdf ', $1), ($1, 'opendal', $3, 'gone', 3, 'txt', $1)`,
        [tenant, spaced, `upload_files/${tenant}/gone.txt`],
      );
    } finally {
      await sql.end();
    }
    // On disk without the trailing space (OpenDAL trims it), in the bucket under the DB key.
    await mkdir(path.join(root, 'upload_files', tenant), { recursive: true });
    await writeFile(path.join(root, 'upload_files', tenant, 'a.pdf'), 'pdf');
    const e = testEnv();
    env = {
      DIFY_STORAGE_DATABASE_URL: db.url,
      DIFY_STORAGE_ENDPOINT: e.DSM_S3_ENDPOINT,
      DIFY_STORAGE_ACCESS_KEY_ID: e.DSM_S3_ACCESS_KEY,
      DIFY_STORAGE_SECRET_ACCESS_KEY: e.DSM_S3_SECRET_KEY,
    };
  });

  afterAll(async () => {
    await deleteTestBucket(client, bucket);
    client.destroy();
    await db.drop();
    await rm(root, { recursive: true, force: true });
  });

  it('exits 1 naming the key the source has and the bucket lacks; --json prints only JSON', async () => {
    const r = await cli(['references', '--storage-path', root, '--bucket', bucket], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^upload_files\s+2\s+0\s+1\s+1\s+0$/m);
    expect(r.stdout).toContain(`FAIL missing upload_files`);
    expect(r.stdout).toContain(JSON.stringify(spaced));
    const j = await cli(['references', '--storage-path', root, '--bucket', bucket, '--json'], env);
    expect(j.code).toBe(1);
    const report = JSON.parse(j.stdout) as { total: { missing: number; preExisting: number } };
    expect(report.total).toMatchObject({ missing: 1, preExisting: 1 });
  });

  it('exits 0 once the object is at its verbatim key; the broken row is pre-existing', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: spaced, Body: 'pdf' }));
    const r = await cli(['references', '--storage-path', root, '--bucket', bucket], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pre-existing, 1 rows');
    // The source tree alone, without S3 flags.
    const local = await cli(['references', '--storage-path', root], {
      DIFY_STORAGE_DATABASE_URL: db.url,
    });
    expect(local.code).toBe(0);
  });

  it('exits 2 without the database URL or with a relative storage path', async () => {
    const r = await cli(['references', '--storage-path', 'storage'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Input 'storage-path' must be an absolute path");
    expect(r.stderr).toContain("Input 'database-url' is required");
  });
});
