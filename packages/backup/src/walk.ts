import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError, errnoCode } from './errors.js';
import { compareNames } from './path-order.js';

/** Why an entry of the storage tree is not in the archive. None of these are Dify data. */
export type SkipReason =
  | 'symlink'
  | 'socket'
  | 'fifo'
  | 'block-device'
  | 'character-device'
  | 'unknown-type'
  | 'name-not-utf8'
  | 'vanished';

export const SKIP_REASON_TEXT: Record<SkipReason, string> = {
  symlink: 'symbolic link (not followed, not archived)',
  socket: 'socket',
  fifo: 'named pipe',
  'block-device': 'block device',
  'character-device': 'character device',
  'unknown-type': 'unknown file type',
  'name-not-utf8': 'name is not valid UTF-8',
  vanished: 'deleted while the backup ran',
};

export interface WalkedDir {
  kind: 'dir';
  /** Relative to the root, '/'-separated, no leading or trailing slash. */
  path: string;
  absPath: string;
  stat: BigIntStats;
}

export interface WalkedFile {
  kind: 'file';
  path: string;
  absPath: string;
  /** Present when the walk was asked to stat files. */
  stat?: BigIntStats;
}

export interface WalkedSkip {
  kind: 'skipped';
  path: string;
  reason: SkipReason;
}

export type WalkEntry = WalkedDir | WalkedFile | WalkedSkip;

export interface WalkOptions {
  /** lstat every regular file (sizes for the preflight); the archiver fstats after open instead. */
  statFiles: boolean;
  /** lstat calls in flight within one directory. */
  statConcurrency?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

interface Named {
  name: string;
  dirent: Dirent<Buffer> | null;
  invalidName: boolean;
}

/**
 * Depth-first walk of `root` in a deterministic order (see comparePaths): yields each directory
 * before its content, and never follows symbolic links. Streams: memory holds one directory
 * listing per level, not the tree.
 */
export async function* walkTree(root: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
  yield* walkDir(root, '', options, true);
}

async function* walkDir(
  absDir: string,
  relDir: string,
  options: WalkOptions,
  isRoot: boolean,
): AsyncGenerator<WalkEntry> {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = await readdir(absDir, { withFileTypes: true, encoding: 'buffer' });
  } catch (error) {
    const code = errnoCode(error);
    if (!isRoot && (code === 'ENOENT' || code === 'ENOTDIR')) return; // removed while walking
    throw new BackupError(`Cannot list directory ${absDir}: ${(error as Error).message}`);
  }
  const named: Named[] = dirents.map((d) => {
    try {
      return { name: utf8.decode(d.name), dirent: d, invalidName: false };
    } catch {
      return { name: lossyUtf8.decode(d.name), dirent: d, invalidName: true };
    }
  });
  named.sort((a, b) => compareNames(a.name, b.name));

  const window = Math.max(1, options.statConcurrency ?? 64);
  for (let start = 0; start < named.length; start += window) {
    const batch = named.slice(start, start + window);
    const stats = await Promise.all(
      batch.map((n) => (needsStat(n, options) ? lstatOrNull(join(absDir, n.name)) : null)),
    );
    for (let i = 0; i < batch.length; i++) {
      const n = batch[i]!;
      const rel = relDir === '' ? n.name : `${relDir}/${n.name}`;
      if (n.invalidName) {
        yield { kind: 'skipped', path: rel, reason: 'name-not-utf8' };
        continue;
      }
      const abs = join(absDir, n.name);
      const stat = stats[i] ?? null;
      const kind = needsStat(n, options) ? classifyStat(stat) : classifyDirent(n.dirent!);
      if (kind === 'dir') {
        yield { kind: 'dir', path: rel, absPath: abs, stat: stat! };
        yield* walkDir(abs, rel, options, false);
      } else if (kind === 'file') {
        yield stat
          ? { kind: 'file', path: rel, absPath: abs, stat }
          : { kind: 'file', path: rel, absPath: abs };
      } else {
        yield { kind: 'skipped', path: rel, reason: kind };
      }
    }
  }
}

function needsStat(n: Named, options: WalkOptions): boolean {
  if (n.invalidName) return false;
  const d = n.dirent!;
  if (d.isDirectory()) return true;
  if (d.isFile()) return options.statFiles;
  // Unknown d_type (some file systems) needs an lstat to classify; other types are final.
  return !(
    d.isSymbolicLink() ||
    d.isSocket() ||
    d.isFIFO() ||
    d.isBlockDevice() ||
    d.isCharacterDevice()
  );
}

async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw new BackupError(`Cannot read the attributes of ${path}: ${(error as Error).message}`);
  }
}

function classifyStat(stat: BigIntStats | null): 'file' | 'dir' | SkipReason {
  if (!stat) return 'vanished';
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'dir';
  return classifyOther(stat);
}

function classifyDirent(d: Dirent<Buffer>): 'file' | 'dir' | SkipReason {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  return classifyOther(d);
}

function classifyOther(d: {
  isSymbolicLink(): boolean;
  isSocket(): boolean;
  isFIFO(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
}): SkipReason {
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isSocket()) return 'socket';
  if (d.isFIFO()) return 'fifo';
  if (d.isBlockDevice()) return 'block-device';
  if (d.isCharacterDevice()) return 'character-device';
  return 'unknown-type';
}
