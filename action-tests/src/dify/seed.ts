import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { naiveUtc } from './db.js';
import {
  guessMimeType,
  imageFileKey,
  privkeyKey,
  toolFileKey,
  uploadExtension,
  uploadFileKey,
} from './keys.js';
import { deterministicRsaKeyPair } from './rsa.js';
import { seedCases, type SeededCases } from './seed-cases.js';
import { ensureSchema, type Db } from './schema.js';
import { generateApiKey } from './tenants.js';
import { segmentationRules, splitText } from './worker/splitter.js';

export interface SeedOptions {
  /** The install's database (the Dify schema is created unless `createSchema: false`). */
  db: Db;
  /** The directory that plays `/app/api/storage` (a node's hostPath directory). */
  storageRoot: string;
  /** Same seed → byte-identical tree and identical rows. */
  seed: string | number;
  /** Storage objects besides private keys: upload files, docx images and tool files. */
  files: number;
  /** Workspaces, each with a private key, an app key and a dataset key. Default 3. */
  tenants?: number;
  /** `realistic`: 1 KiB–20 MiB, most small; `small`: 1–16 KiB (benchmarks at 200k files). */
  sizeProfile?: 'realistic' | 'small';
  /** Extra upload files of 64–80 MiB (multipart territory). Default 0. */
  hugeFiles?: number;
  /** Upload rows whose object is never written (a broken install). Default 0. */
  missingObjects?: number;
  /** Objects under upload_files/ with no row. Default 0. */
  orphanObjects?: number;
  /** Indexed documents (with segments) per tenant, over its text uploads. Default 2. */
  documentsPerTenant?: number;
  /** Parallel file writes. Default 16. */
  concurrency?: number;
  createSchema?: boolean;
  /**
   * The rows and files real 1.3.0 installs hold (seed-cases.ts: create-by-text, keys ending in
   * white space or with `//`, a docx image, pre-existing broken rows, a keyword file), in the
   * first tenant. Default true.
   */
  cases?: boolean;
}

export interface SeededTenant {
  id: string;
  name: string;
  accountId: string;
  appId: string;
  appApiKey: string;
  datasetId: string;
  datasetApiKey: string;
}

export interface SeedSummary {
  seed: string;
  tenants: SeededTenant[];
  counts: {
    uploadFiles: number;
    imageFiles: number;
    toolFiles: number;
    privkeys: number;
    hugeFiles: number;
    missingObjects: number;
    orphanObjects: number;
    documents: number;
    segments: number;
    /** Regular files written under storageRoot. */
    objectsOnDisk: number;
  };
  /** Bytes written under storageRoot. */
  bytesOnDisk: number;
  /** Keys of the rows whose object was deliberately not written. */
  missingKeys: string[];
  /** Keys of the objects written without a row. */
  orphanKeys: string[];
  /** The real-install cases (empty lists with `cases: false`). */
  cases: SeededCases;
  durationMs: number;
}

/** sfc32: small, fast and good enough for test data. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    [this.a, this.b, this.c, this.d] = [
      h.readUInt32LE(0),
      h.readUInt32LE(4),
      h.readUInt32LE(8),
      h.readUInt32LE(12),
    ];
    for (let i = 0; i < 16; i += 1) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(min: number, maxExclusive: number): number {
    return min + Math.floor(this.next() * (maxExclusive - min));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      const v = Math.floor(this.next() * 4294967296);
      for (let j = 0; j < 4 && i + j < n; j += 1) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  uuid4(): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  logUniform(min: number, max: number): number {
    return Math.round(Math.exp(Math.log(min) + this.next() * (Math.log(max) - Math.log(min))));
  }
}

const KiB = 1024;
const MiB = 1024 * KiB;
const POOL_SIZE = 8 * MiB;

const BASE_NAMES = [
  '季度报告 2024',
  'Résumé final',
  'meeting notes',
  'データ 分析',
  'план проекта',
  'Smörgåsbord menu',
  'report  (2)',
  'emoji 📄 doc',
  'README',
  'invoice_0042',
  'Ünïcödé file',
  'x',
  '客户 名单 v3',
  'a.b.c',
  'spec sheet – draft',
];
/** Extension as the user typed it; the key lowercases it, an empty one leaves a trailing dot. */
const EXTS: [string, number][] = [
  ['pdf', 14],
  ['docx', 10],
  ['txt', 12],
  ['md', 8],
  ['png', 12],
  ['jpg', 8],
  ['JPG', 3],
  ['csv', 5],
  ['xlsx', 5],
  ['tar.gz', 2],
  ['', 2],
  ['mp3', 3],
  ['mp4', 2],
  ['html', 3],
  ['PDF', 2],
];
const TEXT_EXTS = new Set(['txt', 'md', 'csv', 'html']);
const WORDS =
  'the storage migration keeps every object byte for byte while dify keeps serving uploads knowledge base segment tenant bucket key checksum verify rollback cutover worker api 文件 存储 迁移 데이터 ファイル'.split(
    ' ',
  );

interface FilePlan {
  kind: 'upload' | 'image' | 'tool';
  tenant: number;
  id: string;
  key: string;
  name: string;
  ext: string;
  mime: string;
  size: number;
  text: boolean;
  /** Position in the content pool. */
  offset: number;
  write: boolean;
  storageType: string;
  role: 'account' | 'end_user';
  createdAt: string;
  hash?: string;
}

function weighted<T>(rng: Rng, items: [T, number][]): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let r = rng.next() * total;
  for (const [item, w] of items) {
    r -= w;
    if (r < 0) return item;
  }
  return items[items.length - 1]![0];
}

function plannedSize(rng: Rng, profile: 'realistic' | 'small'): number {
  if (profile === 'small') return rng.logUniform(KiB, 16 * KiB);
  const bucket = weighted<[number, number]>(rng, [
    [[KiB, 32 * KiB], 55],
    [[32 * KiB, 512 * KiB], 25],
    [[512 * KiB, 4 * MiB], 15],
    [[4 * MiB, 20 * MiB], 5],
  ]);
  return rng.logUniform(bucket[0], bucket[1]);
}

/** Deterministic random bytes (AES-256-CTR keystream) and text, shared by all files. */
function contentPools(seed: string): { binary: Buffer; text: Buffer } {
  const key = createHash('sha256').update(`pool:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const binary = cipher.update(Buffer.alloc(POOL_SIZE));
  const rng = new Rng(`text:${seed}`);
  const parts: string[] = [];
  let len = 0;
  while (len < 2 * MiB) {
    const line: string[] = [];
    const n = rng.int(6, 20);
    for (let i = 0; i < n; i += 1) line.push(rng.pick(WORDS));
    const s = `${line.join(' ')}.${rng.next() < 0.2 ? '\n\n' : '\n'}`;
    parts.push(s);
    len += Buffer.byteLength(s);
  }
  return { binary, text: Buffer.from(parts.join('')) };
}

/** Writes one planned file; returns its sha3-256. Content = a unique header + pool bytes. */
async function writePlanned(
  root: string,
  plan: FilePlan,
  pools: { binary: Buffer; text: Buffer },
): Promise<string> {
  const pool = plan.text ? pools.text : pools.binary;
  const header = Buffer.from(`${plan.key}\n`);
  const hash = createHash('sha3-256');
  const file = path.join(root, ...plan.key.split('/').filter((p) => p !== ''));
  const chunks: Buffer[] = [];
  let remaining = plan.size;
  const h = header.subarray(0, Math.min(header.length, remaining));
  chunks.push(h);
  remaining -= h.length;
  let offset = plan.offset % pool.length;
  const fh = plan.write ? await open(file, 'w') : undefined;
  try {
    let buffered = h.length;
    while (remaining > 0) {
      const n = Math.min(remaining, pool.length - offset, MiB);
      chunks.push(pool.subarray(offset, offset + n));
      offset = (offset + n) % pool.length;
      remaining -= n;
      buffered += n;
      if (buffered >= 4 * MiB) {
        for (const c of chunks) hash.update(c);
        if (fh) await fh.writev(chunks);
        chunks.length = 0;
        buffered = 0;
      }
    }
    for (const c of chunks) hash.update(c);
    if (fh && chunks.length) await fh.writev(chunks);
  } finally {
    await fh?.close();
  }
  return hash.digest('hex');
}

function textOf(plan: FilePlan, pools: { text: Buffer }): string {
  const header = `${plan.key}\n`;
  const body = Buffer.alloc(Math.max(0, plan.size - Buffer.byteLength(header)));
  for (let i = 0, off = plan.offset % pools.text.length; i < body.length;) {
    const n = Math.min(body.length - i, pools.text.length - off);
    pools.text.copy(body, i, off, off + n);
    i += n;
    off = (off + n) % pools.text.length;
  }
  return Buffer.concat([Buffer.from(header), body])
    .subarray(0, plan.size)
    .toString('utf8');
}

async function insertRows(
  db: Db,
  table: string,
  columns: string[],
  rows: unknown[][],
): Promise<void> {
  const perStatement = Math.max(1, Math.floor(30000 / columns.length));
  for (let i = 0; i < rows.length; i += perStatement) {
    const batch = rows.slice(i, i + perStatement);
    const values: unknown[] = [];
    const tuples = batch.map((r) => {
      const ph = r.map((v) => {
        values.push(v);
        return `$${values.length}`;
      });
      return `(${ph.join(', ')})`;
    });
    await db.query(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`,
      values,
    );
  }
}

async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * Fills a simulated Dify 1.3.0 install from a seed: tenants with private keys and API keys,
 * upload files (unicode and spaced names, upper-case and missing extensions, legacy
 * storage_type values), docx images (`…..png` keys, size 0, no hash), tool files, a few indexed
 * documents, all with matching rows. Writes go straight to `storageRoot` (no Dify process).
 */
export async function seedInstall(opts: SeedOptions): Promise<SeedSummary> {
  const started = Date.now();
  const seed = String(opts.seed);
  if (!Number.isInteger(opts.files) || opts.files < 0) {
    throw new Error(`seedInstall: files must be a non-negative integer, got ${opts.files}`);
  }
  const tenantCount = opts.tenants ?? 3;
  if (!Number.isInteger(tenantCount) || tenantCount < 1) {
    throw new Error(`seedInstall: tenants must be a positive integer, got ${opts.tenants}`);
  }
  const profile = opts.sizeProfile ?? 'realistic';
  if (profile !== 'realistic' && profile !== 'small') {
    throw new Error(
      `seedInstall: sizeProfile must be 'realistic' or 'small', got ${String(profile)}`,
    );
  }
  const hugeFiles = opts.hugeFiles ?? 0;
  const missing = opts.missingObjects ?? 0;
  const orphans = opts.orphanObjects ?? 0;
  const docsPerTenant = opts.documentsPerTenant ?? 2;
  const root = path.resolve(opts.storageRoot);
  const db = opts.db;
  // Refuse before writing anything: a seeded tree is only reproducible from an empty root.
  const existing = await readdir(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (existing.length > 0) {
    throw new Error(
      `seedInstall: storageRoot ${root} must be empty or absent (found ${existing.length} entries)`,
    );
  }
  if (opts.createSchema !== false) await ensureSchema(db);
  const firstTenantId = new Rng(`meta:${seed}`).uuid4();
  const dup = await db.query(`SELECT 1 FROM tenants WHERE id = $1`, [firstTenantId]);
  if ((dup.rowCount ?? 0) > 0) {
    throw new Error(
      `seedInstall: seed ${JSON.stringify(seed)} was already seeded into this database`,
    );
  }

  const rng = new Rng(`meta:${seed}`);
  const baseTime = Date.UTC(2025, 0, 6, 9, 0, 0);
  let tick = 0;
  const at = () => naiveUtc(new Date(baseTime + (tick += rng.int(1, 600)) * 1000));

  // Tenants, owners, end users, apps, datasets, keys.
  const tenants: (SeededTenant & { endUserId: string })[] = [];
  let pemBytes = 0;
  for (let t = 0; t < tenantCount; t += 1) {
    const ten: SeededTenant & { endUserId: string } = {
      id: rng.uuid4(),
      name: t === 0 ? "Alice's Workspace" : `工作空间 ${t + 1}`,
      accountId: rng.uuid4(),
      appId: rng.uuid4(),
      appApiKey: generateApiKey('app-', (n) => rng.bytes(n)),
      datasetId: rng.uuid4(),
      datasetApiKey: generateApiKey('dataset-', (n) => rng.bytes(n)),
      endUserId: rng.uuid4(),
    };
    tenants.push(ten);
    const keyRng = new Rng(`rsa:${seed}:${t}`);
    const keys = deterministicRsaKeyPair((n) => keyRng.bytes(n));
    const created = at();
    await mkdir(path.join(root, 'privkeys', ten.id), { recursive: true });
    await writeFile(path.join(root, privkeyKey(ten.id)), keys.privatePem);
    pemBytes += Buffer.byteLength(keys.privatePem);
    await db.query(
      `INSERT INTO tenants (id, name, encrypt_public_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
      [ten.id, ten.name, keys.publicPem, created],
    );
    await db.query(
      `INSERT INTO accounts (id, name, email, status, initialized_at, created_at, updated_at)
       VALUES ($1, $2, $3, 'active', $4, $4, $4)`,
      [ten.accountId, `Owner ${t + 1}`, `owner${t + 1}@example.com`, created],
    );
    await db.query(
      `INSERT INTO tenant_account_joins (id, tenant_id, account_id, current, role, created_at, updated_at)
       VALUES ($1, $2, $3, true, 'owner', $4, $4)`,
      [rng.uuid4(), ten.id, ten.accountId, created],
    );
    await db.query(
      `INSERT INTO apps (id, tenant_id, name, mode, icon_type, icon, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, 'chat', 'emoji', '🤖', $4, $5, $5)`,
      [ten.appId, ten.id, `Support bot ${t + 1}`, ten.accountId, created],
    );
    await db.query(
      `INSERT INTO end_users (id, tenant_id, app_id, type, is_anonymous, session_id, created_at, updated_at)
       VALUES ($1, $2, $3, 'service_api', false, $4, $5, $5)`,
      [ten.endUserId, ten.id, ten.appId, `user-${t + 1}`, created],
    );
    await db.query(
      `INSERT INTO datasets (id, tenant_id, name, indexing_technique, data_source_type, created_by, updated_by, created_at, updated_at)
       VALUES ($1, $2, $3, 'economy', 'upload_file', $4, $4, $5, $5)`,
      [ten.datasetId, ten.id, `Knowledge ${t + 1}`, ten.accountId, created],
    );
    await insertRows(
      db,
      'api_tokens',
      ['id', 'app_id', 'tenant_id', 'type', 'token', 'created_at'],
      [
        [rng.uuid4(), ten.appId, ten.id, 'app', ten.appApiKey, created],
        [rng.uuid4(), null, ten.id, 'dataset', ten.datasetApiKey, created],
      ],
    );
    for (const dir of ['upload_files', 'image_files', 'tools']) {
      await mkdir(path.join(root, dir, ten.id), { recursive: true });
    }
  }

  // Plan every object first (sequential, deterministic), then write concurrently.
  const plans: FilePlan[] = [];
  const total = opts.files + hugeFiles;
  for (let i = 0; i < total; i += 1) {
    const huge = i >= opts.files;
    const tenant = rng.int(0, tenantCount);
    const tid = tenants[tenant]!.id;
    const kind = huge
      ? 'upload'
      : weighted<FilePlan['kind']>(rng, [
          ['upload', 85],
          ['image', 7],
          ['tool', 8],
        ]);
    const offset = rng.int(0, POOL_SIZE);
    const createdAt = at();
    if (kind === 'upload') {
      const userExt = huge ? 'mp4' : weighted(rng, EXTS);
      const base = rng.pick(BASE_NAMES);
      const name = userExt === '' ? base : `${base}.${userExt}`;
      const ext = uploadExtension(name);
      const size = huge ? 64 * MiB + rng.int(1, 16 * MiB) : plannedSize(rng, profile);
      plans.push({
        kind,
        tenant,
        id: rng.uuid4(),
        key: uploadFileKey(tid, rng.uuid4(), ext),
        name,
        ext,
        mime: guessMimeType(ext) ?? 'application/octet-stream',
        size,
        text: TEXT_EXTS.has(ext),
        offset,
        write: true,
        storageType: weighted(rng, [
          ['opendal', 70],
          ['local', 20],
          ['*', 10],
        ]),
        role: rng.next() < 0.7 ? 'account' : 'end_user',
        createdAt,
      });
    } else if (kind === 'image') {
      // Images inside .docx: "png"/"jpeg" from the package, or ".png" from guess_extension
      // for linked images, which makes `{uuid}..png` keys.
      const ext = weighted(rng, [
        ['png', 4],
        ['jpeg', 2],
        ['.png', 3],
        ['.jpg', 1],
      ]);
      const key = imageFileKey(tid, rng.uuid4(), ext);
      plans.push({
        kind,
        tenant,
        id: rng.uuid4(),
        key,
        name: key,
        ext,
        mime: guessMimeType(ext.replace(/^\./, '')) ?? '',
        size:
          profile === 'small' ? rng.logUniform(KiB, 16 * KiB) : rng.logUniform(8 * KiB, 600 * KiB),
        text: false,
        offset,
        write: true,
        storageType: 'opendal',
        role: 'account',
        createdAt,
      });
    } else {
      const mime = weighted(rng, [
        ['image/png', 5],
        ['text/plain', 2],
        ['application/pdf', 2],
        ['application/octet-stream', 1],
      ]);
      const dotted =
        mime === 'application/octet-stream'
          ? '.bin'
          : `.${mime === 'text/plain' ? 'txt' : mime.split('/')[1]}`;
      const hex = rng.uuid4().replace(/-/g, '');
      plans.push({
        kind,
        tenant,
        id: rng.uuid4(),
        key: toolFileKey(tid, hex, dotted),
        name: `${hex}${dotted}`,
        ext: dotted,
        mime,
        size:
          profile === 'small' ? rng.logUniform(KiB, 16 * KiB) : rng.logUniform(2 * KiB, 2 * MiB),
        text: mime === 'text/plain',
        offset,
        write: true,
        storageType: '',
        role: 'account',
        createdAt,
      });
    }
  }
  const uploads = plans.filter((p) => p.kind === 'upload');
  const missingKeys: string[] = [];
  for (let i = 0; i < Math.min(missing, uploads.length); i += 1) {
    const p =
      uploads[Math.floor(((i + 0.5) * uploads.length) / Math.min(missing, uploads.length))]!;
    if (!p.write) continue;
    p.write = false;
    missingKeys.push(p.key);
  }
  const orphanPlans: FilePlan[] = [];
  for (let i = 0; i < orphans; i += 1) {
    const tid = tenants[rng.int(0, tenantCount)]!.id;
    orphanPlans.push({
      kind: 'upload',
      tenant: 0,
      id: '',
      key: uploadFileKey(tid, rng.uuid4(), 'bin'),
      name: '',
      ext: 'bin',
      mime: '',
      size: rng.logUniform(KiB, 64 * KiB),
      text: false,
      offset: rng.int(0, POOL_SIZE),
      write: true,
      storageType: '',
      role: 'account',
      createdAt: '',
    });
  }

  const pools = contentPools(seed);
  let bytesOnDisk = pemBytes;
  let objectsOnDisk = tenantCount;
  await pool([...plans, ...orphanPlans], opts.concurrency ?? 16, async (p) => {
    p.hash = await writePlanned(root, p, pools);
    if (p.write) {
      bytesOnDisk += p.size;
      objectsOnDisk += 1;
    }
  });

  // Rows.
  const uploadRows = plans
    .filter((p) => p.kind !== 'tool')
    .map((p) => {
      const t = tenants[p.tenant]!;
      const image = p.kind === 'image';
      return [
        p.id,
        t.id,
        p.storageType,
        p.key,
        p.name,
        image ? 0 : p.size,
        p.ext,
        p.mime,
        p.role,
        p.role === 'account' ? t.accountId : t.endUserId,
        p.createdAt,
        image,
        image ? t.accountId : null,
        image ? p.createdAt : null,
        image ? null : p.hash,
        '',
      ];
    });
  await insertRows(
    db,
    'upload_files',
    [
      'id',
      'tenant_id',
      'storage_type',
      'key',
      'name',
      'size',
      'extension',
      'mime_type',
      'created_by_role',
      'created_by',
      'created_at',
      'used',
      'used_by',
      'used_at',
      'hash',
      'source_url',
    ],
    uploadRows,
  );
  const toolPlans = plans.filter((p) => p.kind === 'tool');
  await insertRows(
    db,
    'tool_files',
    [
      'id',
      'user_id',
      'tenant_id',
      'conversation_id',
      'file_key',
      'mimetype',
      'original_url',
      'name',
      'size',
    ],
    toolPlans.map((p, i) => {
      const t = tenants[p.tenant]!;
      // Older tool files kept the column default -1.
      return [
        p.id,
        t.accountId,
        t.id,
        null,
        p.key,
        p.mime,
        null,
        p.name,
        i % 10 === 9 ? -1 : p.size,
      ];
    }),
  );

  // A few indexed documents over small text uploads.
  let documents = 0;
  let segments = 0;
  const rules = segmentationRules('automatic', null);
  for (const [ti, t] of tenants.entries()) {
    const candidates = uploads.filter(
      (p) => p.tenant === ti && p.text && p.write && p.size <= 256 * KiB,
    );
    const ruleId = rng.uuid4();
    await db.query(
      `INSERT INTO dataset_process_rules (id, dataset_id, mode, rules, created_by, created_at)
       VALUES ($1, $2, 'automatic', NULL, $3, $4)`,
      [ruleId, t.datasetId, t.accountId, naiveUtc(new Date(baseTime))],
    );
    for (const [pos, p] of candidates.slice(0, docsPerTenant).entries()) {
      const docId = rng.uuid4();
      const chunks = splitText(textOf(p, pools), rules);
      const when = p.createdAt;
      await db.query(
        `INSERT INTO documents (id, tenant_id, dataset_id, position, data_source_type, data_source_info,
           dataset_process_rule_id, batch, name, created_from, created_by, created_at, updated_at,
           processing_started_at, parsing_completed_at, cleaning_completed_at, splitting_completed_at,
           completed_at, word_count, tokens, indexing_latency, indexing_status, doc_form, doc_language)
         VALUES ($1, $2, $3, $4, 'upload_file', $5, $6, $7, $8, 'web', $9, $10, $10, $10, $10, $10, $10,
           $10, $11, 0, 1.5, 'completed', 'text_model', 'English')`,
        [
          docId,
          t.id,
          t.datasetId,
          pos + 1,
          `{"upload_file_id": "${p.id}"}`,
          ruleId,
          `20250106090000${String(100000 + ti * 1000 + pos)}`,
          p.name,
          t.accountId,
          when,
          chunks.reduce((s, c) => s + c.length, 0),
        ],
      );
      await db.query(
        `UPDATE upload_files SET used = true, used_by = $2, used_at = $3 WHERE id = $1`,
        [p.id, t.accountId, when],
      );
      await insertRows(
        db,
        'document_segments',
        [
          'id',
          'tenant_id',
          'dataset_id',
          'document_id',
          'position',
          'content',
          'word_count',
          'tokens',
          'index_node_id',
          'index_node_hash',
          'status',
          'created_by',
          'created_at',
          'updated_at',
          'indexing_at',
          'completed_at',
        ],
        chunks.map((c, i) => [
          rng.uuid4(),
          t.id,
          t.datasetId,
          docId,
          i + 1,
          c,
          c.length,
          0,
          rng.uuid4(),
          createHash('sha256').update(`${c}None`).digest('hex'),
          'completed',
          t.accountId,
          when,
          when,
          when,
          when,
        ]),
      );
      documents += 1;
      segments += chunks.length;
    }
  }

  const extra =
    opts.cases === false
      ? { files: 0, bytes: 0, cases: undefined }
      : await seedCases(db, root, seed, tenants[0]!, naiveUtc(new Date(baseTime)));
  objectsOnDisk += extra.files;
  bytesOnDisk += extra.bytes;

  return {
    seed,
    tenants: tenants.map(({ endUserId: _e, ...t }) => t),
    counts: {
      uploadFiles: plans.filter((p) => p.kind === 'upload').length,
      imageFiles: plans.filter((p) => p.kind === 'image').length,
      toolFiles: toolPlans.length,
      privkeys: tenantCount,
      hugeFiles,
      missingObjects: missingKeys.length,
      orphanObjects: orphanPlans.length,
      documents,
      segments,
      objectsOnDisk,
    },
    bytesOnDisk,
    missingKeys,
    orphanKeys: orphanPlans.map((p) => p.key),
    cases: extra.cases ?? {
      text: [],
      spaced: [],
      doubleSlash: [],
      image: [],
      docx: [],
      broken: [],
      keyword: [],
    },
    durationMs: Date.now() - started,
  };
}

export interface TreeHash {
  /** sha256 over every file's relative path, size and content digest, in sorted order. */
  hash: string;
  files: number;
  bytes: number;
}

/** A content hash of a directory tree (what "same seed → same install" compares). */
export async function hashTree(root: string): Promise<TreeHash> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) files.push(full);
    }
  };
  await walk(root);
  files.sort();
  const outer = createHash('sha256');
  let bytes = 0;
  for (const f of files) {
    const h = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(f)) {
      h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    bytes += size;
    outer.update(
      `${path.relative(root, f).split(path.sep).join('/')}\0${size}\0${h.digest('hex')}\n`,
    );
  }
  return { hash: outer.digest('hex'), files: files.length, bytes };
}
