// A Dify-shaped storage tree for the million-file and freeze-window scenarios (issue 17 §3, §4):
// a few hundred tenants, each with upload_files/, image_files/ and tools/ (uuid names, the
// layouts of dify-1.3.0-fidelity.md §2, §5, §6), a privkeys/<tenant>/private.pem each, and
// keyword_files/ for some. Sizes 0–4 KiB. Reused when the same spec exists (`.bench-spec`).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Dataset } from './datasets.js';

const BLOCK = randomBytes(4 * 1024 * 1024);
const EXTS = ['pdf', 'txt', 'docx', 'md', 'csv', 'png'];
export const SPEC_FILE = '.bench-spec';

export interface DifyTree extends Dataset {
  tenants: string[];
}

/** A view of the random block (no copy: generation is bound by syscalls, keep the rest cheap). */
function body(size: number, seed: number): Buffer {
  const off = (seed * 4099) % (BLOCK.length - 8192);
  return BLOCK.subarray(off, off + size);
}

function pem(seed: number, tag: string): string {
  const base = body(1200, seed).toString('base64');
  return `-----BEGIN RSA PRIVATE KEY-----\n${tag}${base.slice(tag.length)}\n-----END RSA PRIVATE KEY-----\n`;
}

/** Where file number `i` goes (55% upload_files, 20% image_files, 25% tools). */
function relOf(tenant: string, i: number): string {
  const k = i % 20;
  if (k < 11) return `upload_files/${tenant}/${randomUUID()}.${EXTS[i % EXTS.length]}`;
  if (k < 15) return `image_files/${tenant}/${randomUUID()}.png`;
  return `tools/${tenant}/${randomUUID().replace(/-/g, '')}.bin`;
}

function tenantIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    createHash('md5')
      .update(`tenant-${i}`)
      .digest('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
  );
}

export function difyTree(
  base: string,
  files: number,
  tenantCount: number,
  log: (s: string) => void,
): DifyTree & { fresh: boolean } {
  const dir = path.join(base, `dify-${files}-${tenantCount}`);
  const spec = `dify-tree v1 ${files} ${tenantCount}`;
  const tenants = tenantIds(tenantCount);
  try {
    if (fs.readFileSync(path.join(dir, SPEC_FILE), 'utf8') === spec) {
      const bytes = Number(fs.readFileSync(path.join(dir, '.bench-bytes'), 'utf8'));
      return { name: `dify-${files}`, dir, files, bytes, tenants, fresh: false };
    }
  } catch {
    // not there yet
  }
  fs.rmSync(dir, { recursive: true, force: true });
  for (const t of tenants)
    for (const kind of ['upload_files', 'image_files', 'tools', 'privkeys'])
      fs.mkdirSync(path.join(dir, kind, t), { recursive: true });
  let bytes = 0;
  let written = 0;
  // Keys and keyword tables first: a few per tenant.
  for (const [n, t] of tenants.entries()) {
    const key = pem(n, 'k');
    fs.writeFileSync(path.join(dir, 'privkeys', t, 'private.pem'), key);
    bytes += key.length;
    written++;
    if (n % 3 === 0) {
      fs.mkdirSync(path.join(dir, 'keyword_files', t), { recursive: true });
      for (let d = 0; d < 2; d++) {
        const kw = `{"__type__":"keyword_table","table":{"t${n}":["${d}"]}}`;
        fs.writeFileSync(path.join(dir, 'keyword_files', t, `${randomUUID()}.txt`), kw);
        bytes += kw.length;
        written++;
      }
    }
  }
  for (let i = 0; written < files; i++, written++) {
    const size = (i * 2654435761) % 4097;
    fs.writeFileSync(`${dir}/${relOf(tenants[i % tenants.length]!, i)}`, body(size, i));
    bytes += size;
    if (written % 100_000 === 0 && written > 0) log(`  generated ${written} files…`);
  }
  fs.writeFileSync(path.join(dir, '.bench-bytes'), String(bytes));
  fs.writeFileSync(path.join(dir, SPEC_FILE), spec);
  return { name: `dify-${files}`, dir, files, bytes, tenants, fresh: true };
}

/**
 * What Dify does between the bulk copy and the freeze, `count` changes over at least `spread`
 * tenant directories: new files under existing tenants, new tenants (new directories with their
 * key), private.pem rewritten in place (same size, directory untouched) and keyword files saved
 * again (deleted, then written). Returns the changed paths.
 */
export function applyChanges(tree: DifyTree, count: number, spread: number): string[] {
  const changed: string[] = [];
  const write = (rel: string, data: Buffer | string): void => {
    fs.mkdirSync(path.dirname(path.join(tree.dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(tree.dir, rel), data);
    changed.push(rel);
  };
  const rewrites = Math.floor(count * 0.025);
  for (let n = 0; n < rewrites; n++) {
    const rel = `privkeys/${tree.tenants[(n * 7) % tree.tenants.length]}/private.pem`;
    const old = fs.readFileSync(path.join(tree.dir, rel), 'utf8');
    // reset-encrypt-key-pair: same path, same length, new bytes; OpenDAL truncates in place.
    fs.writeFileSync(path.join(tree.dir, rel), pem(100_000 + n, 'R').slice(0, old.length));
    changed.push(rel);
  }
  const kwTenants = tree.tenants.filter((_, i) => i % 3 === 0);
  for (let n = 0; n < rewrites; n++) {
    const t = kwTenants[n % kwTenants.length]!;
    const d = path.join(tree.dir, 'keyword_files', t);
    const name = fs.readdirSync(d).sort()[0]!;
    fs.rmSync(path.join(d, name)); // jieba.py:140-143: delete, then save
    write(`keyword_files/${t}/${name}`, `{"rewritten":${n}}`);
  }
  const newTenants = Math.max(1, Math.floor(count * 0.01));
  for (let n = 0; n < newTenants; n++) {
    const t = randomUUID();
    write(`privkeys/${t}/private.pem`, pem(200_000 + n, 'N'));
    for (let f = 0; f < 4; f++) write(relOf(t, f), body(1000 + f, 300_000 + n * 4 + f));
  }
  const rest = count - changed.length;
  for (let n = 0; n < rest; n++) {
    const t = tree.tenants[(n % spread) * Math.floor(tree.tenants.length / spread)]!;
    write(relOf(t, n), body((n * 7919) % 4097, 400_000 + n));
  }
  return changed;
}
