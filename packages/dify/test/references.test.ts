import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readStorageReferences, type StorageReference } from '@dify-storage/dify';
import pg from 'pg';
import { createDifyDatabase } from '../../../action-tests/src/proving-ground/database.js';

/** Rows as Dify 1.3.0 writes them (dify-1.3.0-fidelity.md §1, §2, §5, §6, §7, §8). */
describe('readStorageReferences (real PostgreSQL)', () => {
  let db: { url: string; drop(): Promise<void> };
  const tenant = randomUUID();
  const dataset = randomUUID();
  const fileDataset = randomUUID();
  const text = '中文文档：迁移测试';

  beforeAll(async () => {
    db = await createDifyDatabase('dify_refs');
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const upload = (key: string, size: number, hash: string | null) =>
      sql.query(
        `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by, hash)
         VALUES ($1, 'opendal', $2, 'n', $3, 'x', $1, $4)`,
        [tenant, key, size, hash],
      );
    try {
      await sql.query(`INSERT INTO tenants (id, name, encrypt_public_key) VALUES ($1, 't', 'PK')`, [
        tenant,
      ]);
      await sql.query(`INSERT INTO tenants (name, encrypt_public_key) VALUES ('no key', '')`);
      await upload(`upload_files/${tenant}/api.pdf `, 1234, 'ab'.repeat(32));
      await upload(`upload_files/${tenant}/text.txt`, text.length, null); // create-by-text
      await upload(`upload_files/${tenant}/empty-hash.txt`, 10, ''); // hash '' is no hash
      await upload(`upload_files//nobody.png`, 5, 'cd'.repeat(32));
      await upload(`image_files/${tenant}/img..png`, 0, null); // docx image
      await sql.query(
        `INSERT INTO tool_files (user_id, tenant_id, file_key, mimetype, size) VALUES
           ($1, $1, $2, 'image/png', -1), ($1, $1, $3, 'application/json', 77)`,
        [tenant, `tools/${tenant}/aa.png`, `tools/${tenant}/bb.json`],
      );
      for (const [id, type] of [
        [dataset, 'database'],
        [fileDataset, 'file'],
      ]) {
        await sql.query(
          `INSERT INTO datasets (id, tenant_id, name, created_by) VALUES ($1, $2, 'd', $2)`,
          [id, tenant],
        );
        await sql.query(
          `INSERT INTO dataset_keyword_tables (dataset_id, keyword_table, data_source_type) VALUES ($1, '', $2)`,
          [id, type],
        );
      }
    } finally {
      await sql.end();
    }
  });

  afterAll(async () => {
    await db.drop();
  });

  const readAll = async (batchSize?: number) => {
    const refs: StorageReference[] = [];
    for await (const r of readStorageReferences(db.url, batchSize ? { batchSize } : {}))
      refs.push(r);
    return refs;
  };

  it('reads every stored kind, in S3 key order, with its OpenDAL fs path', async () => {
    const refs = await readAll();
    expect(refs.map((r) => [r.kind, r.key, r.fsPath])).toEqual([
      ['image_files', `image_files/${tenant}/img..png`, `image_files/${tenant}/img..png`],
      [
        'keyword_files',
        `keyword_files/${tenant}/${fileDataset}.txt`,
        `keyword_files/${tenant}/${fileDataset}.txt`,
      ],
      ['privkeys', `privkeys/${tenant}/private.pem`, `privkeys/${tenant}/private.pem`],
      ['tool_files', `tools/${tenant}/aa.png`, `tools/${tenant}/aa.png`],
      ['tool_files', `tools/${tenant}/bb.json`, `tools/${tenant}/bb.json`],
      ['upload_files', 'upload_files//nobody.png', 'upload_files/nobody.png'],
      ['upload_files', `upload_files/${tenant}/api.pdf `, `upload_files/${tenant}/api.pdf`],
      [
        'upload_files',
        `upload_files/${tenant}/empty-hash.txt`,
        `upload_files/${tenant}/empty-hash.txt`,
      ],
      ['upload_files', `upload_files/${tenant}/text.txt`, `upload_files/${tenant}/text.txt`],
    ]);
    // A batch smaller than the row count streams the same rows.
    expect((await readAll(2)).map((r) => r.key)).toEqual(refs.map((r) => r.key));
  });

  it('gives a size in bytes only for API uploads with a hash; keeps the column as stored', async () => {
    const refs = await readAll();
    const bySuffix = (suffix: string) => refs.find((r) => r.key.endsWith(suffix))!;
    expect(bySuffix('api.pdf ')).toMatchObject({ size: 1234, rowSize: 1234 });
    expect(bySuffix('text.txt')).toMatchObject({ size: null, rowSize: text.length, sha3: null });
    expect(bySuffix('empty-hash.txt')).toMatchObject({ size: null, rowSize: 10, sha3: null });
    expect(bySuffix('img..png')).toMatchObject({ size: null, rowSize: 0 });
    expect(bySuffix('aa.png')).toMatchObject({ size: null, rowSize: -1 });
    expect(bySuffix('private.pem')).toMatchObject({ size: null, rowSize: null, tenantId: tenant });
  });
});
