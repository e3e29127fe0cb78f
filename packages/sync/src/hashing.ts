import { createHash } from 'node:crypto';
import type fs from 'node:fs';
import { close, fstat, open, readFully, sameVersion } from './fileio.js';

export const MiB = 1024 * 1024;
export const MAX_PARTS = 10_000;
export const MIN_PART = 5 * MiB;

/** Part size for a file: the configured size, grown (in MiB steps) to stay within 10,000 parts. */
export function partSizeFor(size: number, configured: number): number {
  let ps = Math.max(MIN_PART, configured);
  if (Math.ceil(size / ps) > MAX_PARTS) ps = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return ps;
}

export interface FileHashes {
  md5: Buffer;
  sha256: string;
  /** md5 of each part when hashed with a part size. */
  partMd5s: Buffer[];
}

export type HashResult =
  { changed: false; hashes: FileHashes } | { changed: true; stat: fs.BigIntStats };

/**
 * Reads a whole file once, computing md5, sha256 and (with `partSize`) the md5 of every part,
 * and checks the file did not change while it was read (fstat after vs the walk's stat).
 */
export async function hashFile(
  abs: string,
  before: fs.BigIntStats,
  partSize: number | undefined,
  buf: Buffer,
  withMd5 = true,
): Promise<HashResult> {
  const size = Number(before.size);
  const fd = await open(abs);
  try {
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    const partMd5s: Buffer[] = [];
    const step = partSize ?? buf.length;
    let pos = 0;
    while (pos < size) {
      const want = Math.min(step, size - pos);
      let partHash = partSize ? createHash('md5') : undefined;
      let got = 0;
      while (got < want) {
        const n = await readFully(fd, buf, Math.min(buf.length, want - got), pos + got);
        if (n === 0) break;
        const chunk = buf.subarray(0, n);
        if (withMd5) md5.update(chunk);
        sha.update(chunk);
        partHash?.update(chunk);
        got += n;
      }
      if (got < want) return { changed: true, stat: await fstat(fd) };
      if (partHash) {
        partMd5s.push(partHash.digest());
        partHash = undefined;
      }
      pos += want;
    }
    const after = await fstat(fd);
    if (!sameVersion(before, after)) return { changed: true, stat: after };
    return { changed: false, hashes: { md5: md5.digest(), sha256: sha.digest('hex'), partMd5s } };
  } finally {
    await close(fd);
  }
}
