import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashTree, seedInstall, type SeedSummary } from '../../src/dify/seed.js';
import { signFileParams } from '../../src/dify/signing.js';
import {
  createTestDatabase,
  readAll,
  redisEnv,
  startApi,
  tempDir,
  type TestDatabase,
} from './support.js';

const OPTS = {
  files: 200,
  tenants: 2,
  sizeProfile: 'small' as const,
  missingObjects: 2,
  orphanObjects: 2,
};

async function dumpRows(db: TestDatabase): Promise<string> {
  const out: unknown[] = [];
  for (const t of [
    'tenants',
    'upload_files',
    'tool_files',
    'api_tokens',
    'documents',
    'document_segments',
  ]) {
    out.push((await db.pool.query(`SELECT * FROM ${t} ORDER BY id`)).rows);
  }
  return createHash('sha256').update(JSON.stringify(out)).digest('hex');
}

describe('seedInstall', () => {
  const dbs: TestDatabase[] = [];
  const dirs: { dir: string; remove(): Promise<void> }[] = [];
  let first: SeedSummary;
  let root1: string;

  async function seedInto(seed: string) {
    const db = await createTestDatabase('dify_seed');
    const dir = await tempDir('dify-seed-');
    dbs.push(db);
    dirs.push(dir);
    const root = path.join(dir.dir, 'storage');
    const summary = await seedInstall({ db: db.pool, storageRoot: root, seed, ...OPTS });
    return { db, root, dir: dir.dir, summary };
  }

  let a: Awaited<ReturnType<typeof seedInto>>;

  beforeAll(async () => {
    a = await seedInto('alpha');
    first = a.summary;
    root1 = a.root;
  });

  afterAll(async () => {
    for (const db of dbs) await db.drop();
    for (const d of dirs) await d.remove();
  });

  it('is deterministic: same seed → same tree and rows; another seed differs', async () => {
    const b = await seedInto('alpha');
    const c = await seedInto('beta');
    const [ha, hb, hc] = await Promise.all([hashTree(a.root), hashTree(b.root), hashTree(c.root)]);
    expect(hb.hash).toBe(ha.hash);
    expect(hc.hash).not.toBe(ha.hash);
    expect(await dumpRows(b.db)).toBe(await dumpRows(a.db));
    expect(b.summary.tenants).toEqual(a.summary.tenants);
    expect(ha.files).toBe(first.counts.objectsOnDisk);
    expect(ha.bytes).toBe(first.bytesOnDisk);
  });

  it('matches every row to its object (size, sha3-256), keeps key shapes Dify writes', async () => {
    expect(first.counts.uploadFiles + first.counts.imageFiles + first.counts.toolFiles).toBe(
      OPTS.files,
    );
    const { rows: all } = await a.db.pool.query(
      `SELECT id::text, key, size, hash, name, storage_type FROM upload_files`,
    );
    const c = first.cases;
    const caseIds = new Set(
      [...c.text, ...c.spaced, ...c.doubleSlash, ...c.image, ...c.broken].map((r) => r.id),
    );
    const rows = all.filter((r) => !caseIds.has(r.id));
    const missing = new Set(first.missingKeys);
    for (const r of rows) {
      const file = path.join(root1, ...r.key.split('/'));
      if (missing.has(r.key)) {
        expect(existsSync(file)).toBe(false);
        continue;
      }
      const content = await readFile(file);
      if (r.key.startsWith('image_files/')) {
        expect(r.size).toBe(0);
        expect(r.hash).toBeNull();
      } else {
        expect(content.length).toBe(r.size);
        expect(createHash('sha3-256').update(content).digest('hex')).toBe(r.hash);
      }
    }
    const keys = rows.map((r) => r.key as string);
    expect(
      keys.some((k) => /^image_files\/[0-9a-f-]{36}\/[0-9a-f-]{36}\.\.(png|jpg)$/.test(k)),
    ).toBe(true);
    expect(keys.some((k) => /^upload_files\/[0-9a-f-]{36}\/[0-9a-f-]{36}\.$/.test(k))).toBe(true);
    expect(rows.some((r) => /\s/.test(r.name) && /[^ -~]/.test(r.name))).toBe(true);
    expect(new Set(rows.map((r) => r.storage_type))).toEqual(new Set(['opendal', 'local', '*']));
    const tools = await a.db.pool.query(`SELECT file_key, size FROM tool_files`);
    for (const t of tools.rows) {
      expect(t.file_key).toMatch(/^tools\/[0-9a-f-]{36}\/[0-9a-f]{32}\.[a-z]+$/);
      const s = await stat(path.join(root1, ...t.file_key.split('/')));
      if (t.size !== -1) expect(s.size).toBe(t.size);
    }
    for (const t of first.tenants) {
      const pem = await readFile(path.join(root1, 'privkeys', t.id, 'private.pem'), 'utf8');
      expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    }
    for (const k of first.orphanKeys)
      expect(existsSync(path.join(root1, ...k.split('/')))).toBe(true);
    expect(first.counts.documents).toBeGreaterThan(0);
  });

  it('seeds the real-install cases where OpenDAL fs keeps them', async () => {
    const c = first.cases;
    const byId = new Map(
      (await a.db.pool.query(`SELECT id::text, key, size, hash FROM upload_files`)).rows.map(
        (r) => [r.id as string, r],
      ),
    );
    for (const t of c.text) {
      // Create-by-text: the size in characters, fewer than the UTF-8 bytes on disk; no hash.
      const body = await readFile(path.join(root1, t.key));
      expect(body.toString('utf8')).toBe(t.text);
      expect(byId.get(t.id)).toMatchObject({ size: [...t.text].length, hash: null });
      expect(body.length).toBeGreaterThan([...t.text].length);
    }
    expect(c.spaced.map((s) => s.key.slice(-1))).toEqual([' ', '\u00a0', '\u3000']);
    for (const s of c.spaced) {
      expect(existsSync(path.join(root1, s.key))).toBe(false);
      expect(existsSync(path.join(root1, s.key.trimEnd()))).toBe(true);
    }
    expect(c.doubleSlash[0]!.key).toMatch(/^upload_files\/\/[0-9a-f-]{36}\.png$/);
    expect(existsSync(path.join(root1, c.doubleSlash[0]!.key.replace('//', '/')))).toBe(true);
    expect(byId.get(c.image[0]!.id)).toMatchObject({ size: 0, hash: null });
    // The docx's images, as the worker's WordExtractor stores them: extension as written.
    const docx = c.docx[0]!;
    expect(byId.get(docx.id)!.hash).toBe(
      createHash('sha3-256')
        .update(await readFile(path.join(root1, docx.key)))
        .digest('hex'),
    );
    expect(docx.images.map((i) => i.key.split('.').pop())).toEqual(['png', 'JPEG']);
    for (const i of docx.images) {
      expect(i.key).toMatch(/^image_files\/[0-9a-f-]{36}\/[0-9a-f-]{36}\.(png|JPEG)$/);
      expect(byId.get(i.id)).toMatchObject({ key: i.key, size: 0, hash: null });
      expect(existsSync(path.join(root1, i.key))).toBe(true);
    }
    for (const b of c.broken) expect(existsSync(path.join(root1, b.key))).toBe(false);
    expect(existsSync(path.join(root1, c.keyword[0]!.key))).toBe(true);
  });

  it('refuses a non-empty root or a seed already in the database, before writing', async () => {
    await expect(
      seedInstall({ db: a.db.pool, storageRoot: root1, seed: 'alpha', files: 1 }),
    ).rejects.toThrow(/must be empty or absent/);
    const fresh = await tempDir('dify-seed-');
    dirs.push(fresh);
    await expect(
      seedInstall({
        db: a.db.pool,
        storageRoot: path.join(fresh.dir, 'storage'),
        seed: 'alpha',
        files: 1,
      }),
    ).rejects.toThrow(/already seeded/);
    expect(existsSync(path.join(fresh.dir, 'storage'))).toBe(false);
  });

  it('produces an install the emulator serves: seeded keys authenticate, seeded files preview', async () => {
    const secret = 'seeded-secret';
    const api = await startApi(a.dir, {
      ...a.db.difyEnv,
      ...(await redisEnv()),
      SECRET_KEY: secret,
    });
    try {
      const { rows } = await a.db.pool.query(
        `SELECT id, key, size FROM upload_files WHERE key LIKE 'upload_files/%' AND NOT (key = ANY($1)) ORDER BY id LIMIT 1`,
        [first.missingKeys],
      );
      const q = new URLSearchParams({ ...signFileParams(secret, rows[0].id) }).toString();
      const res = await fetch(`${api.base}/files/${rows[0].id}/file-preview?${q}`);
      const { body, broken } = await readAll(res);
      expect(broken).toBe(false);
      expect(body.equals(await readFile(path.join(root1, ...rows[0].key.split('/'))))).toBe(true);

      const form = new FormData();
      form.append('file', new Blob(['new upload']), 'new.txt');
      const up = await fetch(`${api.base}/v1/files/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${first.tenants[0]!.appApiKey}` },
        body: form,
      });
      expect(up.status).toBe(201);
    } finally {
      await api.stop();
    }
  });
});
