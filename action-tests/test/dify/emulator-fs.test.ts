import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/dify/config.js';
import { buildDocx } from '../../src/dify/docx.js';
import { createToolFile } from '../../src/dify/files.js';
import { signFileParams, signedToolFileUrl } from '../../src/dify/signing.js';
import { createStorage } from '../../src/dify/storage/index.js';
import {
  createTestDatabase,
  readAll,
  redisEnv,
  spawnEmulator,
  startApi,
  startWorker,
  tempDir,
  waitFor,
  type RunningEmulator,
  type TestDatabase,
} from './support.js';

const SECRET = 'sk-test-secret';
const ADMIN = 'admin-token-fs';

interface Ws {
  tenant_id: string;
  app_api_key: string;
  dataset_id: string;
  dataset_api_key: string;
}

describe('Dify emulator on OpenDAL fs (STORAGE_TYPE=opendal)', () => {
  let db: TestDatabase;
  let cwd: { dir: string; remove(): Promise<void> };
  let vars: Record<string, string>;
  let api: RunningEmulator & { base: string };
  let worker: RunningEmulator | undefined;
  let ws: Ws;

  beforeAll(async () => {
    db = await createTestDatabase();
    cwd = await tempDir('dify-api-');
    vars = {
      ...db.difyEnv,
      ...(await redisEnv()),
      STORAGE_TYPE: 'opendal',
      OPENDAL_SCHEME: 'fs',
      OPENDAL_FS_ROOT: 'storage',
      SECRET_KEY: SECRET,
      DIFY_EMULATOR_ADMIN_TOKEN: ADMIN,
    };
    api = await startApi(cwd.dir, vars);
    const res = await fetch(`${api.base}/console/api/workspaces`, {
      method: 'POST',
      headers: { 'X-Emulator-Admin-Token': ADMIN, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Tenant on disk' }),
    });
    expect(res.status).toBe(201);
    ws = (await res.json()) as Ws;
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await db?.drop();
    await cwd?.remove();
  });

  const storage = (key: string) => path.join(cwd.dir, 'storage', ...key.split('/'));

  async function upload(name: string, content: Buffer, type = 'text/plain') {
    const form = new FormData();
    form.append('file', new Blob([content], { type }), name);
    form.append('user', 'tester');
    return fetch(`${api.base}/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ws.app_api_key}` },
      body: form,
    });
  }

  async function preview(id: string, params = signFileParams(SECRET, id)) {
    const q = new URLSearchParams({ ...params });
    return fetch(`${api.base}/files/${id}/file-preview?${q.toString()}`);
  }

  async function createByFile(name: string, content: Buffer) {
    const form = new FormData();
    form.append('file', new Blob([content], { type: 'text/markdown' }), name);
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
    return (await res.json()) as {
      document: { id: string; indexing_status: string };
      batch: string;
    };
  }

  async function status(batch: string) {
    const res = await fetch(
      `${api.base}/v1/datasets/${ws.dataset_id}/documents/${batch}/indexing-status`,
      {
        headers: { Authorization: `Bearer ${ws.dataset_api_key}` },
      },
    );
    const body = (await res.json()) as {
      data: { indexing_status: string; error: string | null; total_segments: number }[];
    };
    return body.data[0]!;
  }

  it('answers /health like Dify', async () => {
    const res = await fetch(`${api.base}/health`);
    expect(res.headers.get('x-version')).toBe('1.3.0');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({ pid: api.proc.pid, status: 'ok', version: '1.3.0' });
  });

  it('writes the tenant private key under storage/privkeys and the public key in tenants', async () => {
    const pem = await readFile(storage(`privkeys/${ws.tenant_id}/private.pem`), 'utf8');
    expect(pem.startsWith('-----BEGIN RSA PRIVATE KEY-----')).toBe(true);
    const { rows } = await db.pool.query(`SELECT encrypt_public_key FROM tenants WHERE id = $1`, [
      ws.tenant_id,
    ]);
    expect(rows[0].encrypt_public_key).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('stores an upload at storage/upload_files/{tenant}/{uuid}.{ext} with its row', async () => {
    const content = Buffer.from('Ünïcödé content\n'.repeat(500));
    const res = await upload('季度 报告 Final.TXT', content);
    expect(res.status).toBe(201);
    const file = (await res.json()) as Record<string, unknown>;
    expect(file).toMatchObject({
      name: '季度 报告 Final.TXT',
      size: content.length,
      extension: 'txt',
    });
    const { rows } = await db.pool.query(`SELECT * FROM upload_files WHERE id = $1`, [file.id]);
    const row = rows[0];
    expect(row.key).toMatch(new RegExp(`^upload_files/${ws.tenant_id}/[0-9a-f-]{36}\\.txt$`));
    expect(row.storage_type).toBe('opendal');
    expect(row.created_by_role).toBe('end_user');
    expect(row.size).toBe(content.length);
    expect(row.hash).toBe(createHash('sha3-256').update(content).digest('hex'));
    expect(await readFile(storage(row.key))).toEqual(content);
    expect(row.source_url).toMatch(
      new RegExp(`^/files/${file.id}/file-preview\\?timestamp=\\d+&nonce=[0-9a-f]{32}&sign=`),
    );
  });

  it('rejects a missing or wrong app key with 401', async () => {
    const res = await fetch(`${api.base}/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: 'Bearer app-nope' },
      body: new FormData(),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      code: 'unauthorized',
      message: 'Access token is invalid',
    });
  });

  it('serves a signed preview byte for byte; a bad or expired signature gets 404', async () => {
    const content = Buffer.alloc(300 * 1024, 7);
    const file = (await (await upload('blob.bin', content, 'application/octet-stream')).json()) as {
      id: string;
    };
    const ok = await preview(file.id);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-length')).toBe(String(content.length));
    expect(ok.headers.get('content-type')).toBe('application/octet-stream');
    const { body, broken } = await readAll(ok);
    expect(broken).toBe(false);
    expect(body.equals(content)).toBe(true);

    const good = signFileParams(SECRET, file.id);
    const bad = await preview(file.id, { ...good, sign: signFileParams('other', file.id).sign });
    expect(bad.status).toBe(404);
    expect(await bad.json()).toMatchObject({ message: 'File not found or signature is invalid' });
    const expired = await preview(file.id, signFileParams(SECRET, file.id, Date.now() - 301_000));
    expect(expired.status).toBe(404);
  });

  it('serves signed tool files; a bad signature gets 403 there', async () => {
    const content = Buffer.from('tool output');
    const storageLib = await createStorage(loadConfig(vars, cwd.dir));
    const { rows: owner } = await db.pool.query(
      `SELECT account_id FROM tenant_account_joins WHERE tenant_id = $1`,
      [ws.tenant_id],
    );
    const tool = await createToolFile(db.pool, storageLib, {
      userId: owner[0].account_id,
      tenantId: ws.tenant_id,
      content,
      mimetype: 'image/png',
    });
    storageLib.close();
    expect(tool.file_key).toMatch(new RegExp(`^tools/${ws.tenant_id}/[0-9a-f]{32}\\.png$`));
    expect(await readFile(storage(tool.file_key))).toEqual(content);
    const url = signedToolFileUrl(api.base, SECRET, tool.id, '.png');
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(content);
    const bad = await fetch(url.replace(/sign=[^&]+/, 'sign=AAAA'));
    expect(bad.status).toBe(403);
  });

  it('closes without any response when the object is gone (gunicorn, the default)', async () => {
    const content = Buffer.from('soon gone\n'.repeat(1000));
    const file = (await (await upload('gone.txt', content)).json()) as { id: string };
    const { rows } = await db.pool.query(`SELECT key FROM upload_files WHERE id = $1`, [file.id]);
    await rm(storage(rows[0].key));
    await expect(preview(file.id)).rejects.toThrow();
  });

  it('can instead truncate the body (200 first, then a broken stream)', async () => {
    const other = await startApi(cwd.dir, {
      ...vars,
      MIGRATION_ENABLED: 'false',
      DIFY_EMULATOR_MISSING_OBJECT_RESPONSE: 'truncate',
    });
    try {
      const content = Buffer.from('soon gone\n'.repeat(1000));
      const file = (await (await upload('gone3.txt', content)).json()) as { id: string };
      const { rows } = await db.pool.query(`SELECT key FROM upload_files WHERE id = $1`, [file.id]);
      await rm(storage(rows[0].key));
      const q = new URLSearchParams({ ...signFileParams(SECRET, file.id) }).toString();
      const res = await fetch(`${other.base}/files/${file.id}/file-preview?${q}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(content.length));
      const { body, broken } = await readAll(res);
      expect(broken).toBe(true);
      expect(body.length).toBeLessThan(content.length);
    } finally {
      await other.stop();
    }
  });

  it('indexing ends in error (File not found) when the object vanished before the worker ran', async () => {
    // No worker yet: the task waits in Redis while the file disappears.
    const created = await createByFile('lost.md', Buffer.from('# lost\n\nparagraph\n'));
    expect(created.document.indexing_status).toBe('waiting');
    const { rows } = await db.pool.query(
      `SELECT u.key FROM documents d JOIN upload_files u ON u.id = (d.data_source_info::json->>'upload_file_id')::uuid WHERE d.id = $1`,
      [created.document.id],
    );
    await rm(storage(rows[0].key));
    worker = await startWorker(cwd.dir, vars);
    const st = await waitFor('indexing error', async () => {
      const s = await status(created.batch);
      return s.indexing_status === 'error' ? s : undefined;
    });
    expect(st.error).toBe('File not found');
  });

  it('indexes a document through the worker to completed, then deletes its file', async () => {
    const text = Array.from(
      { length: 40 },
      (_, i) => `Paragraph ${i}: ${'lorem ipsum '.repeat(20)}`,
    ).join('\n');
    const created = await createByFile('guide.md', Buffer.from(text));
    const st = await waitFor('indexing completed', async () => {
      const s = await status(created.batch);
      return s.indexing_status === 'completed' ? s : undefined;
    });
    expect(st.total_segments).toBeGreaterThan(1);
    const { rows: segs } = await db.pool.query(
      `SELECT count(*)::int AS n FROM document_segments WHERE document_id = $1 AND status = 'completed'`,
      [created.document.id],
    );
    expect(segs[0].n).toBe(st.total_segments);

    const { rows } = await db.pool.query(
      `SELECT u.id, u.key FROM documents d JOIN upload_files u ON u.id = (d.data_source_info::json->>'upload_file_id')::uuid WHERE d.id = $1`,
      [created.document.id],
    );
    expect(existsSync(storage(rows[0].key))).toBe(true);
    const uf = await fetch(
      `${api.base}/v1/datasets/${ws.dataset_id}/documents/${created.document.id}/upload-file`,
      { headers: { Authorization: `Bearer ${ws.dataset_api_key}` } },
    );
    const info = (await uf.json()) as { id: string; url: string; size: number };
    expect(info.id).toBe(rows[0].id);
    const viaUrl = await readAll(await fetch(`${api.base}${info.url}`));
    expect(viaUrl.body.toString()).toBe(text);
    const del = await fetch(
      `${api.base}/v1/datasets/${ws.dataset_id}/documents/${created.document.id}`,
      {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${ws.dataset_api_key}` },
      },
    );
    expect(del.status).toBe(200);
    await waitFor(
      'file deleted by clean_document_task',
      async () => !existsSync(storage(rows[0].key)),
    );
    await waitFor('upload row deleted', async () => {
      const r = await db.pool.query(`SELECT 1 FROM upload_files WHERE id = $1`, [rows[0].id]);
      return r.rowCount === 0;
    });
  });

  async function indexed(batch: string, want = 'completed') {
    return waitFor(`indexing ${want}`, async () => {
      const s = await status(batch);
      return s.indexing_status === want ? s : undefined;
    });
  }

  it('create-by-text stores UTF-8 bytes with size = characters and no hash (upload_text)', async () => {
    const text = '迁移之后文档必须还能打开。\n第二段：对象存储。';
    const res = await fetch(`${api.base}/v1/datasets/${ws.dataset_id}/document/create-by-text`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${ws.dataset_api_key}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        name: '说明',
        text,
        indexing_technique: 'economy',
        process_rule: { mode: 'automatic' },
      }),
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as { document: { id: string }; batch: string };
    const { rows } = await db.pool.query(
      `SELECT u.* FROM documents d JOIN upload_files u ON u.id = (d.data_source_info::json->>'upload_file_id')::uuid WHERE d.id = $1`,
      [created.document.id],
    );
    const row = rows[0];
    expect(row.key).toMatch(new RegExp(`^upload_files/${ws.tenant_id}/[0-9a-f-]{36}\\.txt$`));
    expect(row).toMatchObject({ size: [...text].length, hash: null, used: true, source_url: '' });
    expect(row).toMatchObject({ extension: 'txt', mime_type: 'text/plain', name: '说明' });
    const onDisk = await readFile(storage(row.key));
    expect(onDisk).toEqual(Buffer.from(text, 'utf8'));
    expect(onDisk.length).toBeGreaterThan(row.size);
    await indexed(created.batch);
    // file-preview sends Content-Length = size: the body stops there, mid-character.
    const got = await readAll(await preview(row.id));
    expect(got.body).toEqual(onDisk.subarray(0, row.size));
  });

  it("the worker extracts a docx's images to image_files/ with size 0, extension as written", async () => {
    const png = createHash('sha512').update('png').digest();
    const jpeg = createHash('sha512').update('jpeg').digest();
    const docx = buildDocx([
      { text: 'Before the picture.' },
      { image: { target: 'media/image1.png', data: png } },
      { image: { target: 'media/image2.JPEG', data: jpeg } },
      { text: 'After it.' },
    ]);
    const created = await createByFile('图文.docx', docx);
    await indexed(created.batch);
    const { rows } = await db.pool.query(
      `SELECT * FROM upload_files WHERE key LIKE 'image\\_files/%' AND tenant_id = $1 ORDER BY extension`,
      [ws.tenant_id],
    );
    expect(rows.map((r) => r.extension)).toEqual(['JPEG', 'png']);
    for (const [row, body] of [
      [rows[0], jpeg],
      [rows[1], png],
    ] as const) {
      expect(row.key).toBe(`image_files/${ws.tenant_id}/${row.key.split('/')[2]}`);
      expect(row.key).toMatch(/^image_files\/[0-9a-f-]{36}\/[0-9a-f-]{36}\.(png|JPEG)$/);
      expect(row).toMatchObject({ size: 0, hash: null, name: row.key, used: true });
      expect(await readFile(storage(row.key))).toEqual(body);
      // size 0: file-preview sends no Content-Length and streams the whole object.
      expect((await readAll(await preview(row.id))).body).toEqual(body);
    }
    expect(rows[1].mime_type).toBe('image/png');
    const { rows: segs } = await db.pool.query(
      `SELECT string_agg(content, '') AS text FROM document_segments WHERE document_id = $1`,
      [created.document.id],
    );
    expect(segs[0].text).toContain(`/files/${rows[1].id}/file-preview)`);
    expect(segs[0].text).toContain('Before the picture.');
  });

  it('a linked docx image is stored as ..png, then the document fails as python-docx does', async () => {
    const png = createHash('sha256').update('linked').digest();
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.end(png);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}/images/logo`;
      const created = await createByFile('linked.docx', buildDocx([{ image: { url } }]));
      const st = await indexed(created.batch, 'error');
      expect(st.error).toBe(
        'target_part property on _Relationship is undefined when target mode is External',
      );
      const { rows } = await db.pool.query(
        `SELECT * FROM upload_files WHERE key LIKE '%..png' AND tenant_id = $1`,
        [ws.tenant_id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ size: 0, extension: '.png', mime_type: 'image/png' });
      expect(await readFile(storage(rows[0].key))).toEqual(png);
    } finally {
      server.close();
    }
  });

  it('closes without any response on a second api too (gunicorn on an OSError before the first chunk)', async () => {
    const other = await startApi(cwd.dir, {
      ...vars,
      MIGRATION_ENABLED: 'false',
      DIFY_EMULATOR_MISSING_OBJECT_RESPONSE: 'empty-reply',
    });
    try {
      const file = (await (await upload('gone2.txt', Buffer.from('x'.repeat(5000)))).json()) as {
        id: string;
      };
      const { rows } = await db.pool.query(`SELECT key FROM upload_files WHERE id = $1`, [file.id]);
      await rm(storage(rows[0].key));
      const q = new URLSearchParams({ ...signFileParams(SECRET, file.id) }).toString();
      await expect(fetch(`${other.base}/files/${file.id}/file-preview?${q}`)).rejects.toThrow();
    } finally {
      await other.stop();
    }
  });

  it('stops cleanly on SIGTERM (exit 0)', async () => {
    await worker!.stop();
    expect(await worker!.exited).toBe(0);
    expect(worker!.stdout()).toContain('Warm shutdown');
  });

  it('crashes at start on an unknown STORAGE_TYPE with a pydantic-like message', async () => {
    const emu = spawnEmulator('api', cwd.dir, { ...vars, STORAGE_TYPE: '*' });
    const code = await emu.exited;
    expect(code).not.toBe(0);
    expect(emu.stderr()).toContain('1 validation error for DifyConfig');
    expect(emu.stderr()).toContain("input_value='*'");
  });
});
