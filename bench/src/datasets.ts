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
  b.writeUInt32LE(seed >>> 0, 0);
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
