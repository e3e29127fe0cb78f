import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a Dify-like storage tree (1.3.0 layout: upload_files/, image_files/, tools/,
 * privkeys/, keyword_files/ per tenant) of about `totalBytes`: log-normal sizes with a median
 * near 100 KB, ~1% large files of 10-50 MB, mostly incompressible content (PDF, images, Office
 * zips) and some text.
 */
export async function generateDifyTree(
  root: string,
  totalBytes: number,
  seed = 42,
  textKind: TextKind = 'pool',
): Promise<{ files: number; bytes: number }> {
  const rnd = mulberry32(seed);
  const tenants = Array.from({ length: 12 }, () => randomUUID());
  const text = makeText(textKind, rnd);
  let bytes = 0;
  let files = 0;
  const pending: Promise<void>[] = [];
  const flush = async (max: number) => {
    while (pending.length > max) await pending.shift();
  };
  const made = new Set<string>();
  const write = async (path: string, content: Buffer) => {
    const dir = path.slice(0, path.lastIndexOf('/'));
    if (!made.has(dir)) {
      await mkdir(dir, { recursive: true });
      made.add(dir);
    }
    pending.push(writeFile(path, content));
    bytes += content.length;
    files += 1;
    await flush(32);
  };

  for (const tenant of tenants) {
    await write(join(root, 'privkeys', tenant, 'private.pem'), pem(text));
  }
  while (bytes < totalBytes) {
    const tenant = tenants[Math.floor(rnd() * tenants.length)]!;
    const r = rnd();
    let size = Math.round(Math.exp(Math.log(100_000) + 1.3 * gaussian(rnd)));
    if (rnd() < 0.01) size = 10_000_000 + Math.floor(rnd() * 40_000_000);
    size = Math.min(size, 50_000_000, Math.max(0, totalBytes - bytes) + 1);
    const [prefix, ext] =
      r < 0.7
        ? [
            'upload_files',
            pick(rnd, ['pdf', 'pdf', 'docx', 'xlsx', 'png', 'jpg', 'txt', 'md', 'csv']),
          ]
        : r < 0.85
          ? ['image_files', pick(rnd, ['png', 'jpg', '.png'])]
          : r < 0.97
            ? ['tools', pick(rnd, ['png', 'json', 'mp3', 'pdf'])]
            : ['keyword_files', 'txt'];
    const name =
      prefix === 'tools' ? `${randomUUID().replace(/-/g, '')}.${ext}` : `${randomUUID()}.${ext}`;
    const compressible = ['txt', 'md', 'csv', 'json'].includes(ext);
    await write(
      join(root, prefix, tenant, name),
      compressible ? textOf(text, size, rnd) : randomBytes(size),
    );
  }
  await flush(0);
  await mkdir(join(root, 'website_files'), { recursive: true }); // present but empty
  return { files, bytes };
}

/**
 * The mix measured independently (issue 17 §6): `files` files of 4–64 KiB, half compressible
 * text (txt, md, csv, json), half incompressible (png, pdf, zip bodies of random bytes), over a
 * few hundred tenant directories: 5,000 files ≈ 172 MB.
 */
export async function generateMixedTree(
  root: string,
  files = 5000,
  seed = 17,
  textKind: TextKind = 'pool',
): Promise<{ files: number; bytes: number }> {
  const rnd = mulberry32(seed);
  const text = makeText(textKind, rnd);
  const tenants = Array.from({ length: 300 }, () => randomUUID());
  let bytes = 0;
  for (const [i, tenant] of tenants.entries()) {
    for (const kind of ['upload_files', 'image_files', 'tools'])
      await mkdir(join(root, kind, tenant), { recursive: true });
    void i;
  }
  for (let i = 0; i < files; i++) {
    const size = 4096 + Math.floor(rnd() * (60 * 1024 + 1));
    const tenant = tenants[i % tenants.length]!;
    const isText = i % 2 === 0;
    const ext = isText ? pick(rnd, ['txt', 'md', 'csv', 'json']) : pick(rnd, ['png', 'pdf', 'zip']);
    const kind = isText ? 'upload_files' : pick(rnd, ['upload_files', 'image_files', 'tools']);
    const body = isText ? textOf(text, size, rnd) : randomBytes(size);
    await writeFile(join(root, kind, tenant, `${randomUUID()}.${ext}`), body);
    bytes += size;
  }
  return { files, bytes };
}

/**
 * 'pool': 16 words cycled with counters (what the first benches used): compresses about 60×,
 * far more than real documents. 'prose': 32 MiB of Zipf-distributed words from a 20,000-word
 * vocabulary with numbers and punctuation, which gzip -6 compresses about 2.5× and zstd -3
 * about as well, like extracted document text; files take random slices of it, so files do
 * not repeat each other within zstd's window.
 */
export type TextKind = 'pool' | 'prose';

function makeText(kind: TextKind, rnd: () => number): Buffer {
  return kind === 'prose' ? makeProse(rnd, 32 << 20) : makeTextPool();
}

function makeProse(rnd: () => number, bytes: number): Buffer {
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const vocabulary = Array.from({ length: 20_000 }, () => {
    let w = '';
    const len = 2 + Math.floor(rnd() * rnd() * 11);
    for (let i = 0; i < len; i++) w += letters[Math.floor(rnd() * rnd() * letters.length)];
    return w;
  });
  // Zipf: the k-th word has weight 1/k.
  const cumulative: number[] = [];
  let sum = 0;
  for (let k = 1; k <= vocabulary.length; k++) cumulative.push((sum += 1 / k));
  const word = () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return vocabulary[lo]!;
  };
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  let sentence: string[] = [];
  while (at < bytes) {
    const r = rnd();
    sentence.push(r < 0.05 ? String(Math.floor(rnd() * 100_000)) : word());
    if (r > 0.93) {
      const line = `${sentence.join(' ')}${r > 0.99 ? '.\n\n' : '. '}`;
      at += out.write(line.charAt(0).toUpperCase() + line.slice(1), at);
      sentence = [];
    }
  }
  return out;
}

function makeTextPool(): Buffer {
  const words =
    'the of and to in dataset document segment answer model tenant workflow node file upload'.split(
      ' ',
    );
  const parts: string[] = [];
  for (let i = 0; i < 200_000; i++) parts.push(words[(i * 7919) % words.length]!, String(i % 997));
  return Buffer.from(parts.join(' '));
}

function textOf(pool: Buffer, size: number, rnd: () => number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    // 4 KiB pieces of a small pool; one whole slice of a large (prose) pool.
    const piece = Math.min(size - at, pool.length > 16 << 20 ? pool.length >> 1 : 4096);
    const start = Math.floor(rnd() * (pool.length - piece));
    at += pool.copy(out, at, start, start + piece);
  }
  return out;
}

function pem(pool: Buffer): Buffer {
  return Buffer.from(
    `-----BEGIN RSA PRIVATE KEY-----\n${pool.subarray(0, 1600).toString('base64')}\n-----END RSA PRIVATE KEY-----\n`,
  );
}

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)]!;
}

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(rnd() || 1e-12)) * Math.cos(2 * Math.PI * rnd());
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
