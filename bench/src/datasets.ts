import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface Dataset {
  name: string;
  dir: string;
  files: number;
  bytes: number;
}

/** Cheap incompressible content: one random block, varied per file by a header. */
const BLOCK = randomBytes(8 * MiB);

function content(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  const off = (seed * 4099) % (BLOCK.length - Math.min(size, BLOCK.length - 1));
  let done = 0;
  while (done < size) {
    const n = Math.min(size - done, BLOCK.length - off);
    BLOCK.copy(b, done, off, off + n);
    done += n;
  }
  if (size >= 4) b.writeUInt32LE(seed >>> 0, 0);
  return b;
}

function marker(dir: string, spec: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, '.bench-spec'), 'utf8') === spec;
  } catch {
    return false;
  }
}

function dirBytes(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name !== '.bench-spec') {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/**
 * Dify-like small files: `upload_files/<tenant>/<uuid>.<ext>` (+ a few image_files/tools keys),
 * sizes uniform in [minKiB, maxKiB]. Reused when the same spec already exists.
 */
export function smallFiles(
  base: string,
  name: string,
  count: number,
  minKiB: number,
  maxKiB: number,
): Dataset {
  const dir = path.join(base, name);
  const spec = `small ${count} ${minKiB} ${maxKiB}`;
  if (!marker(dir, spec)) {
    fs.rmSync(dir, { recursive: true, force: true });
    const exts = ['pdf', 'docx', 'png', 'jpg', 'txt', 'md'];
    const tenants = Array.from({ length: Math.max(1, Math.min(50, Math.ceil(count / 2000))) }, () =>
      randomUUID(),
    );
    for (const t of tenants) fs.mkdirSync(path.join(dir, 'upload_files', t), { recursive: true });
    fs.mkdirSync(path.join(dir, 'image_files', tenants[0]!), { recursive: true });
    for (let i = 0; i < count; i++) {
      const size = (minKiB + ((i * 7919) % (maxKiB - minKiB + 1))) * KiB;
      const ext = exts[i % exts.length]!;
      const sub =
        i % 50 === 49 ? `image_files/${tenants[0]}` : `upload_files/${tenants[i % tenants.length]}`;
      fs.writeFileSync(path.join(dir, sub, `${randomUUID()}.${ext}`), content(size, i));
    }
    fs.writeFileSync(path.join(dir, '.bench-spec'), spec);
  }
  return { name, dir, ...dirBytes(dir) };
}

export function largeFiles(base: string, name: string, count: number, sizeMiB: number): Dataset {
  const dir = path.join(base, name);
  const spec = `large ${count} ${sizeMiB}`;
  if (!marker(dir, spec)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < count; i++) {
      const fd = fs.openSync(path.join(dir, `large-${i}.bin`), 'w');
      const chunk = 8 * MiB;
      for (let off = 0; off < sizeMiB * MiB; off += chunk) {
        fs.writeSync(fd, content(Math.min(chunk, sizeMiB * MiB - off), i * 100_003 + off / chunk));
      }
      fs.closeSync(fd);
    }
    fs.writeFileSync(path.join(dir, '.bench-spec'), spec);
  }
  return { name, dir, files: count, bytes: count * sizeMiB * MiB };
}

/** The file mixes of issue 17 §1, each spread over a few hundred tenant directories. */
export type Mix = 'a' | 'b' | 'c';

export const MIX_LABEL: Record<Mix, string> = {
  a: '(a) 4–64 KiB uniform',
  b: '(b) 30% under 1 KiB, the rest 4–64 KiB',
  c: '(c) 4–64 KiB, half compressible text, half random bytes',
};

const WORDS =
  'the of and to in is that for it as with was on be by this are from at or an which have not workflow dataset tenant knowledge document segment embedding vector'.split(
    ' ',
  );

/** Compressible text (≈ 3:1 with gzip): words drawn by a cheap PRNG seeded per file. */
function text(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  while (i < size) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const w = `${WORDS[x % WORDS.length]}${x % 11 === 0 ? '.\n' : ' '}`;
    i += b.write(w, i, 'latin1');
  }
  return b;
}

/** Size of file `i` in a mix: uniform 4–64 KiB, with 30% under 1 KiB in mix (b). */
function mixSize(mix: Mix, i: number): number {
  if (mix === 'b' && i % 10 < 3) return 1 + ((i * 7919) % 1023);
  return (4 + ((i * 7919) % 61)) * KiB + ((i * 104729) % KiB);
}

/**
 * Dify-like files of one mix under `upload_files/<tenant>/` for `tenants` tenants (a few in
 * `image_files/` and `tools/`), reused when the same spec exists.
 */
export function mixFiles(base: string, mix: Mix, count: number, tenantCount = 300): Dataset {
  const name = `mix-${mix}-${count}-${tenantCount}`;
  const dir = path.join(base, name);
  const spec = `mix ${mix} ${count} ${tenantCount}`;
  if (!marker(dir, spec)) {
    fs.rmSync(dir, { recursive: true, force: true });
    const exts = ['pdf', 'docx', 'png', 'jpg', 'txt', 'md'];
    const tenants = Array.from({ length: tenantCount }, () => randomUUID());
    for (const t of tenants) fs.mkdirSync(path.join(dir, 'upload_files', t), { recursive: true });
    for (const kind of ['image_files', 'tools'])
      fs.mkdirSync(path.join(dir, kind, tenants[0]!), { recursive: true });
    for (let i = 0; i < count; i++) {
      const size = mixSize(mix, i);
      const sub =
        i % 50 === 49
          ? `image_files/${tenants[0]}`
          : i % 50 === 48
            ? `tools/${tenants[0]}`
            : `upload_files/${tenants[(i * 31) % tenants.length]}`;
      const body = mix === 'c' && i % 2 === 0 ? text(size, i) : content(size, i);
      fs.writeFileSync(path.join(dir, sub, `${randomUUID()}.${exts[i % exts.length]}`), body);
    }
    fs.writeFileSync(path.join(dir, '.bench-spec'), spec);
  }
  return { name, dir, ...dirBytes(dir) };
}
