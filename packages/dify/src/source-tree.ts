import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { isFsFilePath } from './opendal-path.js';

export type SourceFile = { size: number } | { absent: string };

/**
 * Finds a reference's file in the storage tree the way Dify on OpenDAL `fs` does (at its
 * normalized path), without following a symlink anywhere on the way: a symlinked file or
 * directory counts as absent, as the copy (which never follows one) leaves it out too.
 */
export class SourceTree {
  /** Directories already known to be real directories (or not): a few per tenant. */
  private readonly dirs = new Map<string, boolean>();

  constructor(readonly root: string) {}

  async stat(fsPath: string): Promise<SourceFile> {
    if (!isFsFilePath(fsPath)) return { absent: 'not a file path on OpenDAL fs' };
    const segments = fsPath.split('/');
    let dir = this.root;
    for (const segment of segments.slice(0, -1)) {
      dir = path.join(dir, segment);
      if (!(await this.isRealDirectory(dir))) return { absent: 'not in the source tree' };
    }
    const st = await lstat(path.join(this.root, fsPath)).catch(() => undefined);
    if (!st) return { absent: 'not in the source tree' };
    if (st.isSymbolicLink()) return { absent: 'a symlink in the source tree (not followed)' };
    if (!st.isFile()) return { absent: 'not a regular file in the source tree' };
    return { size: st.size };
  }

  /** Hex digests (e.g. sha3-256, md5) of a file already found by `stat`, in one read. */
  async digests(fsPath: string, algorithms: string[]): Promise<Record<string, string>> {
    const hashes = algorithms.map((a) => createHash(a));
    for await (const chunk of createReadStream(path.join(this.root, fsPath)))
      for (const h of hashes) h.update(chunk as Buffer);
    return Object.fromEntries(algorithms.map((a, i) => [a, hashes[i]!.digest('hex')]));
  }

  /** The absolute path of a tree path. */
  file(fsPath: string): string {
    return path.join(this.root, fsPath);
  }

  private async isRealDirectory(dir: string): Promise<boolean> {
    const known = this.dirs.get(dir);
    if (known !== undefined) return known;
    const st = await lstat(dir).catch(() => undefined);
    const real = st !== undefined && st.isDirectory();
    if (this.dirs.size > 100_000) this.dirs.clear(); // bounded memory on odd trees
    this.dirs.set(dir, real);
    return real;
  }
}
