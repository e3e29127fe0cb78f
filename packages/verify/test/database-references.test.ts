import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { normalizeFsPath, readStorageReferences } from '@dify-storage/dify';
import { checkReferences, formatReferenceTable } from '@dify-storage/verify';
import pg from 'pg';
import { createDifyDatabase } from '../../../action-tests/src/proving-ground/database.js';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
} from '../../../action-tests/src/proving-ground/s3.js';

const sha3 = (b: Buffer) => createHash('sha3-256').update(b).digest('hex');

/**
 * Rows and files the way Dify 1.3.0 leaves them (dify-1.3.0-fidelity.md §1-8), in a source tree
 * (OpenDAL fs paths) and a bucket (verbatim keys), as after a correct migration.
 */
describe('reference check (real PostgreSQL and RGW)', () => {
  let client: S3Client;
  let bucket: string;
  let root: string;
  let db: { url: string; drop(): Promise<void> };
  const tenant = randomUUID();
  const dataset = randomUUID();
  const files = new Map<string, Buffer>();
  const brokenKey = `upload_files/${tenant}/deleted-long-ago.pdf`;
  const text = '迁移后的中文文档';

  const put = (key: string, body: Buffer) =>
    client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client, 'verify-db');
    db = await createDifyDatabase('verify_refs');
    root = await mkdtemp(path.join(tmpdir(), 'refs-src-'));
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const upload = (key: string, size: number, hash: string | null, storageType = 'opendal') =>
      sql.query(
        `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by, hash)
         VALUES ($1, $2, $3, 'n', $4, 'x', $1, $5)`,
        [tenant, storageType, key, size, hash],
      );
    try {
      await sql.query(`INSERT INTO tenants (id, name, encrypt_public_key) VALUES ($1, 't', 'PK')`, [
        tenant,
      ]);
      files.set(`privkeys/${tenant}/private.pem`, Buffer.from('PRIVATE KEY'));
      // Keys in an order where UTF-16 and UTF-8 byte order disagree (U+FF5E vs U+1F600), and a
      // key with a trailing space (the user's "a.pdf "), whose file is on disk without it.
      for (const name of ['a.txt', 'é ü.pdf', '～wave.txt', '😀.png', '..png', 'report.pdf ']) {
        const body = randomBytes(500 + name.length);
        const key = `upload_files/${tenant}/${name}`;
        files.set(key, body);
        // Rows written before the cutover carry the old storage_type; no filter may drop them.
        await upload(key, body.length, sha3(body), name === 'a.txt' ? '*' : 'opendal');
      }
      // Create-by-text (file_service.py:121-134): size in characters, no hash.
      files.set(`upload_files/${tenant}/text.txt`, Buffer.from(text, 'utf8'));
      await upload(`upload_files/${tenant}/text.txt`, text.length, null);
      // A docx image (word_extractor.py:111-125): size 0, no hash, sometimes `..png`.
      files.set(`image_files/${tenant}/img..png`, randomBytes(900));
      await upload(`image_files/${tenant}/img..png`, 0, null);
      // A legacy tool file with size -1.
      files.set(`tools/${tenant}/abc.json`, randomBytes(300));
      await sql.query(
        `INSERT INTO tool_files (user_id, tenant_id, file_key, mimetype, size) VALUES ($1, $1, $2, 'application/json', -1)`,
        [tenant, `tools/${tenant}/abc.json`],
      );
      // A keyword file (KEYWORD_DATA_SOURCE_TYPE other than 'database').
      await sql.query(
        `INSERT INTO datasets (id, tenant_id, name, created_by) VALUES ($1, $2, 'd', $2)`,
        [dataset, tenant],
      );
      await sql.query(
        `INSERT INTO dataset_keyword_tables (dataset_id, keyword_table, data_source_type) VALUES ($1, '', 'file')`,
        [dataset],
      );
      files.set(`keyword_files/${tenant}/${dataset}.txt`, Buffer.from('{"__data__":{}}'));
      // A row whose file was gone before the migration began.
      await upload(brokenKey, 1000, 'ab'.repeat(32));
    } finally {
      await sql.end();
    }
    for (const [key, body] of files) {
      const file = path.join(root, normalizeFsPath(key));
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body);
      await put(key, body);
    }
    // An object no row references is fine (e.g. a pending ops_trace file).
    await put('ops_trace/a/x.json', Buffer.from('x'));
  });

  afterAll(async () => {
    await deleteTestBucket(client, bucket);
    client.destroy();
    await db.drop();
    await rm(root, { recursive: true, force: true });
  });

  const check = (readBack: 'none' | 'all', withBucket = true) =>
    checkReferences({
      ...(withBucket ? { client, bucket } : {}),
      storagePath: root,
      references: readStorageReferences(db.url),
      readBack,
    });

  it('passes every kind, reports the pre-existing broken row and does not fail it', async () => {
    const r = await check('all');
    expect(r.summary).toContain('pre-existing, 1 rows');
    expect(r.status).toBe('pass');
    expect(r.kinds).toEqual({
      upload_files: { references: 8, ok: 7, preExisting: 1, missing: 0, differs: 0 },
      image_files: { references: 1, ok: 1, preExisting: 0, missing: 0, differs: 0 },
      tool_files: { references: 1, ok: 1, preExisting: 0, missing: 0, differs: 0 },
      privkeys: { references: 1, ok: 1, preExisting: 0, missing: 0, differs: 0 },
      keyword_files: { references: 1, ok: 1, preExisting: 0, missing: 0, differs: 0 },
    });
    expect(r.preExisting).toEqual([
      expect.objectContaining({ key: brokenKey, reason: 'not in the source tree' }),
    ]);
    // Every ok reference with a source file is read back: by its hash, or else by the source.
    expect(r.hashed).toBe(11);
    expect(formatReferenceTable(r)[1]).toMatch(/^upload_files\s+8\s+7\s+1\s+0\s+0$/);
  });

  it('without a bucket, resolves every reference in the source tree alone', async () => {
    const r = await check('none', false);
    expect(r.status).toBe('pass');
    expect(r.total).toMatchObject({ references: 12, ok: 11, preExisting: 1 });
  });

  it('fails naming the key when an object the source has is missing or differs', async () => {
    const missingKey = `privkeys/${tenant}/private.pem`;
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: missingKey }));
    const changed = `upload_files/${tenant}/😀.png`;
    await put(changed, randomBytes(files.get(changed)!.length));
    const shorter = `image_files/${tenant}/img..png`;
    await put(shorter, files.get(shorter)!.subarray(1));
    // Copied at the normalized path instead of the verbatim key: boto3 would not find it.
    const spaced = `upload_files/${tenant}/report.pdf `;
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: spaced }));
    await put(spaced.trimEnd(), files.get(spaced)!);
    try {
      const r = await check('all');
      expect(r.status).toBe('fail');
      expect(r.summary).toContain('2 referenced key(s) missing in the bucket, 2 different');
      expect(r.failures.map((p) => [p.key, p.outcome])).toEqual(
        expect.arrayContaining([
          [missingKey, 'missing'],
          [spaced, 'missing'],
          [shorter, 'differs'],
          [changed, 'differs'],
        ]),
      );
      expect(r.failures.find((p) => p.key === shorter)!.reason).toBe(
        'the source file has 900 bytes, object has 899',
      );
      // Without read-back the content is not compared, but presence and size still are.
      expect((await check('none')).total).toMatchObject({ missing: 2, differs: 1 });
    } finally {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: spaced.trimEnd() }));
      for (const key of [missingKey, changed, shorter, spaced]) await put(key, files.get(key)!);
    }
  });

  it('reads back rows without a hash against the source: a same-size corruption fails', async () => {
    // Create-by-text (size in characters) and a docx image (size 0): the size column says
    // nothing, so only their bytes can show a corrupt copy.
    const textKey = `upload_files/${tenant}/text.txt`;
    const imageKey = `image_files/${tenant}/img..png`;
    for (const key of [textKey, imageKey]) {
      const bad = Buffer.from(files.get(key)!);
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
      await put(key, bad);
    }
    try {
      expect((await check('none')).status).toBe('pass');
      const r = await check('all');
      expect(r.status).toBe('fail');
      expect(r.failures.map((p) => [p.key, p.outcome])).toEqual(
        expect.arrayContaining([
          [textKey, 'differs'],
          [imageKey, 'differs'],
        ]),
      );
      expect(r.failures.find((p) => p.key === textKey)!.reason).toMatch(
        /^sha3-256 [0-9a-f]{64} differs from the source file's [0-9a-f]{64}$/,
      );
    } finally {
      for (const key of [textKey, imageKey]) await put(key, files.get(key)!);
    }
  });

  it('does not follow a symlink in the source tree', async () => {
    const linked = path.join(root, normalizeFsPath(`upload_files/${tenant}/a.txt`));
    await rm(linked);
    await symlink('/etc/hostname', linked);
    const r = await check('none', false);
    expect(r.preExisting).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'a symlink in the source tree (not followed)' }),
      ]),
    );
    await rm(linked);
    await writeFile(linked, files.get(`upload_files/${tenant}/a.txt`)!);
  });
});
