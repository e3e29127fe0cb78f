import type { BigIntStats, Dirent } from 'node:fs';
import { join } from 'node:path';
import {
  CHANGED_DURING_WALK,
  ChangedDuringWalkError,
  DirHandle,
  lstatAsync,
} from '@dify-storage/common';
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
  | 'vanished'
  | typeof CHANGED_DURING_WALK;

export const SKIP_REASON_TEXT: Record<SkipReason, string> = {
  symlink: 'symbolic link (not followed, not archived)',
  socket: 'socket',
  fifo: 'named pipe',
  'block-device': 'block device',
  'character-device': 'character device',
  'unknown-type': 'unknown file type',
  'name-not-utf8': 'name is not valid UTF-8',
  vanished: 'deleted while the backup ran',
  [CHANGED_DURING_WALK]: 'replaced (e.g. by a symbolic link) while the backup ran; not followed',
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
  /** For messages: the root joined with `path`. */
  absPath: string;
  /** Path through the held parent directory (see safe-fs): the only path to open. */
  openPath: string;
  /** The parent directory; retain() it to open `openPath` after the walk moved on. */
  dir: DirHandle;
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
  /** @internal test hook: runs after an entry is classified and before it is opened. */
  beforeOpen?: (path: string) => void | Promise<void>;
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
  let dir: DirHandle;
  try {
    dir = await DirHandle.openRoot(root);
  } catch (error) {
    throw new BackupError(`Cannot list directory ${root}: ${(error as Error).message}`);
  }
  try {
    yield* walkDir(dir, root, '', options, true);
  } finally {
    dir.release();
  }
}

async function* walkDir(
  dir: DirHandle,
  absDir: string,
  relDir: string,
  options: WalkOptions,
  isRoot: boolean,
): AsyncGenerator<WalkEntry> {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = await dir.readdir();
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
      batch.map((n) => (needsStat(n, options) ? lstatOrNull(dir, n.name, absDir) : null)),
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
        yield* subdir(dir, n.name, abs, rel, stat!, options);
      } else if (kind === 'file') {
        const file = {
          kind: 'file',
          path: rel,
          absPath: abs,
          openPath: dir.entryPath(n.name),
          dir,
        };
        yield stat ? { ...file, kind: 'file', stat } : { ...file, kind: 'file' };
      } else {
        yield { kind: 'skipped', path: rel, reason: kind };
      }
    }
  }
}

/** Opens a subdirectory through its held parent (never a symlink), then yields it and its content. */
async function* subdir(
  parent: DirHandle,
  name: string,
  abs: string,
  rel: string,
  stat: BigIntStats,
  options: WalkOptions,
): AsyncGenerator<WalkEntry> {
  await options.beforeOpen?.(rel);
  let dir: DirHandle;
  try {
    dir = await parent.openSubdir(name, stat);
  } catch (error) {
    if (error instanceof ChangedDuringWalkError) {
      yield { kind: 'skipped', path: rel, reason: CHANGED_DURING_WALK };
      return;
    }
    if (errnoCode(error) === 'ENOENT') return; // removed while walking
    throw new BackupError(`Cannot open directory ${abs}: ${(error as Error).message}`);
  }
  try {
    yield { kind: 'dir', path: rel, absPath: abs, stat };
    yield* walkDir(dir, abs, rel, options, false);
  } finally {
    dir.release();
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

async function lstatOrNull(
  dir: DirHandle,
  name: string,
  absDir: string,
): Promise<BigIntStats | null> {
  try {
    return await lstatAsync(dir.entryPath(name));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    const path = join(absDir, name);
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
