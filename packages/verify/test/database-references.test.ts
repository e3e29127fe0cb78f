import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readStorageReferences } from '@dify-storage/dify';
import { checkDatabaseReferences } from '@dify-storage/verify';
import pg from 'pg';
import { createDifyDatabase } from '../../../action-tests/src/proving-ground/database.js';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
} from '../../../action-tests/src/proving-ground/s3.js';

const sha3 = (b: Buffer) => createHash('sha3-256').update(b).digest('hex');

describe('database references check (real PostgreSQL and RGW)', () => {
  let client: S3Client;
  let bucket: string;
  let db: { url: string; drop(): Promise<void> };
  const tenant = randomUUID();
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client, 'verify-db');
    db = await createDifyDatabase('verify_refs');
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      await sql.query(
        `INSERT INTO tenants (id, name, encrypt_public_key) VALUES ($1, 't', 'PUBLIC KEY')`,
        [tenant],
      );
      files.set(`privkeys/${tenant}/private.pem`, Buffer.from('PRIVATE KEY'));
      // Keys in an order where UTF-16 and UTF-8 byte order disagree (U+FF5E vs U+1F600).
      const names = ['a.txt', 'é ü.pdf', '～wave.txt', '😀.png', '..png'];
      for (const name of names) {
        const body = randomBytes(500 + name.length);
        const key = `upload_files/${tenant}/${name}`;
        files.set(key, body);
        // Rows written before the cutover carry the old storage_type; no filter may drop them.
        await sql.query(
          `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by, hash)
           VALUES ($1, $2, $3, $4, $5, 'txt', $1, $6)`,
          [tenant, name === 'a.txt' ? '*' : 'opendal', key, name, body.length, sha3(body)],
        );
      }
      // Create-by-text (file_service.py:121-134): size in characters, no hash; the object has
      // more bytes than that for non-ASCII text, which is no size mismatch.
      const text = '迁移后的中文文档';
      const textKey = `upload_files/${tenant}/text.txt`;
      files.set(textKey, Buffer.from(text, 'utf8'));
      await sql.query(
        `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by)
         VALUES ($1, 'opendal', $2, 'text.txt', $3, 'txt', $1)`,
        [tenant, textKey, text.length],
      );
      const toolBody = randomBytes(300);
      files.set(`tools/${tenant}/abc.json`, toolBody);
      await sql.query(
        `INSERT INTO tool_files (user_id, tenant_id, file_key, mimetype, size) VALUES ($1, $1, $2, 'application/json', -1)`,
        [tenant, `tools/${tenant}/abc.json`],
      );
    } finally {
      await sql.end();
    }
    for (const [key, body] of files)
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    // An object no row references is fine (e.g. a pending ops_trace file).
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'ops_trace/a/x.json', Body: 'x' }),
    );
  });

  afterAll(async () => {
    await deleteTestBucket(client, bucket);
    client.destroy();
    await db.drop();
  });

  const check = (readBack: 'none' | 'all') =>
    checkDatabaseReferences({
      client,
      bucket,
      references: readStorageReferences(db.url),
      readBack,
    });

  it('passes when every referenced key is present, whatever storage_type says', async () => {
    const result = await check('all');
    expect(result.summary).toContain('all 8 referenced keys present');
    expect(result.status).toBe('pass');
    expect(result.evidence.counts).toMatchObject({
      kinds: { upload_files: 6, tool_files: 1, privkeys: 1 },
      sizeMismatch: 0,
      hashed: 5,
    });
  });

  it('fails naming the row and key when an object is missing, and a size or hash that differs', async () => {
    const missingKey = `privkeys/${tenant}/private.pem`;
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: missingKey }));
    const changed = `upload_files/${tenant}/😀.png`;
    const replaced = randomBytes(files.get(changed)!.length);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: changed, Body: replaced }));
    const shorter = `upload_files/${tenant}/a.txt`;
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: shorter, Body: files.get(shorter)!.subarray(1) }),
    );
    try {
      const result = await check('all');
      expect(result.status).toBe('fail');
      expect(result.summary).toContain(
        '1 referenced key(s) missing, 1 size mismatch(es), 1 hash mismatch(es)',
      );
      const evidence = result.evidence as Record<string, { key: string; reason: string }[]>;
      expect(evidence.missing).toEqual([
        expect.objectContaining({ key: missingKey, reason: 'no such object in the bucket' }),
      ]);
      expect(evidence.sizeMismatch!.map((p) => p.key)).toEqual([shorter]);
      expect(evidence.hashMismatch!.map((p) => p.key)).toEqual([changed]);
      // Without read-back the content is not compared, but presence and size still are.
      const listingOnly = await check('none');
      expect(listingOnly.summary).toContain(
        '1 referenced key(s) missing, 1 size mismatch(es), 0 hash mismatch(es)',
      );
    } finally {
      for (const key of [missingKey, changed, shorter]) {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: files.get(key)! }),
        );
      }
    }
  });
});
