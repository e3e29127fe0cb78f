import { lstatSync, type BigIntStats, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { CHANGED_DURING_WALK, ChangedDuringWalkError, DirHandle } from '@dify-storage/common';
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

/** A directory being walked: its held handle and its sorted listing. */
interface Level {
  dir: DirHandle;
  absDir: string;
  relDir: string;
  named: Named[];
  next: number;
}

/**
 * Depth-first walk of `root` in a deterministic order (see comparePaths): yields each directory
 * before its content, and never follows symbolic links. Streams: memory holds one directory
 * listing per level, not the tree. One generator with an explicit stack: nested generators
 * (`yield*` per level) cost a promise round trip per level for every entry.
 */
export async function* walkTree(root: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
  let rootDir: DirHandle;
  try {
    rootDir = await DirHandle.openRoot(root);
  } catch (error) {
    throw new BackupError(`Cannot list directory ${root}: ${(error as Error).message}`);
  }
  const stack: Level[] = [];
  try {
    const top = listLevel(rootDir, root, '', true);
    if (top) stack.push(top);
    else rootDir.release();
    while (stack.length > 0) {
      const level = stack[stack.length - 1]!;
      const n = level.named[level.next++];
      if (!n) {
        stack.pop()!.dir.release();
        continue;
      }
      const rel = level.relDir === '' ? n.name : `${level.relDir}/${n.name}`;
      if (n.invalidName) {
        yield { kind: 'skipped', path: rel, reason: 'name-not-utf8' };
        continue;
      }
      const abs = join(level.absDir, n.name);
      const stat = needsStat(n, options) ? lstatOrNull(level.dir, n.name, level.absDir) : null;
      const kind = needsStat(n, options) ? classifyStat(stat) : classifyDirent(n.dirent!);
      if (kind === 'file') {
        const file = {
          kind: 'file',
          path: rel,
          absPath: abs,
          openPath: level.dir.entryPath(n.name),
        };
        yield { ...file, kind: 'file', dir: level.dir, ...(stat ? { stat } : {}) };
      } else if (kind !== 'dir') {
        yield { kind: 'skipped', path: rel, reason: kind };
      } else {
        await options.beforeOpen?.(rel);
        const sub = openSubdir(level.dir, n.name, abs, stat!);
        if (sub === CHANGED_DURING_WALK) yield { kind: 'skipped', path: rel, reason: sub };
        if (!(sub instanceof DirHandle)) continue;
        yield { kind: 'dir', path: rel, absPath: abs, stat: stat! };
        const child = listLevel(sub, abs, rel, false);
        if (child) stack.push(child);
        else sub.release();
      }
    }
  } finally {
    for (const level of stack) level.dir.release();
  }
}

/**
 * Lists and sorts a directory; null when it was removed while walking (not the root). Blocking
 * (like the lstats and the archiver's reads): directories are a third of the entries of a Dify
 * tree, and a threadpool round trip per readdir, open, fstat cost more than the calls.
 */
function listLevel(dir: DirHandle, absDir: string, relDir: string, isRoot: boolean): Level | null {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = dir.readdirSync();
  } catch (error) {
    const code = errnoCode(error);
    if (!isRoot && (code === 'ENOENT' || code === 'ENOTDIR')) return null; // removed while walking
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
  return { dir, absDir, relDir, named, next: 0 };
}

/**
 * Opens a subdirectory through its held parent, never a symlink: the handle, or
 * CHANGED_DURING_WALK when it is no longer the directory the walk saw, or null when removed.
 */
function openSubdir(
  parent: DirHandle,
  name: string,
  abs: string,
  stat: BigIntStats,
): DirHandle | typeof CHANGED_DURING_WALK | null {
  try {
    return parent.openSubdirSync(name, stat);
  } catch (error) {
    if (error instanceof ChangedDuringWalkError) return CHANGED_DURING_WALK;
    if (errnoCode(error) === 'ENOENT') return null; // removed while walking
    throw new BackupError(`Cannot open directory ${abs}: ${(error as Error).message}`);
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

/**
 * A blocking lstat: about 4 µs against 40 µs for a threadpool round trip on a warm cache, and
 * the files are then read with blocking reads anyway (see TreeArchiver). On a cold disk the
 * lstats of a directory are serialized, as tar's are.
 */
function lstatOrNull(dir: DirHandle, name: string, absDir: string): BigIntStats | null {
  try {
    return lstatSync(dir.entryPath(name), { bigint: true, throwIfNoEntry: false }) ?? null;
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
