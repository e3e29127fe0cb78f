import type { BigIntStats } from 'node:fs';
import { close, fstat, read } from 'node:fs';
import { CHANGED_DURING_WALK, ChangedDuringWalkError, openEntry } from '@dify-storage/common';
import { BackupError, errnoCode } from './errors.js';
import type { SkipReason, WalkEntry, WalkedDir, WalkedSkip } from './walk.js';

/** A small file read whole, with its attributes before and whether they changed during the read. */
export interface LoadedFile {
  kind: 'loaded';
  path: string;
  stat: BigIntStats;
  content: Buffer;
  changed: boolean;
}

/** A large file opened for streaming; the consumer reads it and closes it (closeFd). */
export interface OpenedFile {
  kind: 'opened';
  path: string;
  absPath: string;
  stat: BigIntStats;
  fd: number;
}

// Plain fds with the callback API: about twice the files/s of FileHandle objects for the
// small files that dominate Dify storage, while staying asynchronous (read-ahead still
// overlaps I/O on a cold disk).
const fstatAsync = (fd: number) =>
  new Promise<BigIntStats>((resolve, reject) =>
    fstat(fd, { bigint: true }, (error, stats) => (error ? reject(error) : resolve(stats))),
  );
export const readFd = (
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
) =>
  new Promise<number>((resolve, reject) =>
    read(fd, buffer, offset, length, position, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    ),
  );
export const statFd = fstatAsync;
export const closeFd = (fd: number) => new Promise<void>((resolve) => close(fd, () => resolve()));

export type PreparedEntry = WalkedDir | WalkedSkip | LoadedFile | OpenedFile;

export interface ReadAheadOptions {
  /** Entries prepared ahead of the consumer. */
  depth: number;
  /** Files up to this size are read whole ahead of time; larger ones only opened. */
  smallFileBytes: number;
  /** @internal test hook: runs after the walk classified a file and before it is opened. */
  beforeOpen?: (path: string) => void | Promise<void>;
}

/**
 * Opens and reads the next few files while the current one is being archived: small files are
 * the norm in Dify storage and each costs several syscall round trips, which overlap here.
 * Yields in walk order. Each file is read once.
 */
export async function* readAhead(
  entries: AsyncIterable<WalkEntry>,
  options: ReadAheadOptions,
): AsyncGenerator<PreparedEntry> {
  const it = entries[Symbol.asyncIterator]();
  const queue: Promise<PreparedEntry>[] = [];
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length < options.depth) {
        const r = await it.next();
        if (r.done) {
          exhausted = true;
          break;
        }
        const p = prepare(r.value, options);
        p.catch(() => {});
        queue.push(p);
      }
      const next = queue.shift();
      if (!next) return;
      yield await next;
    }
  } finally {
    for (const p of queue) {
      const v = await p.catch(() => null);
      if (v?.kind === 'opened') await closeFd(v.fd);
    }
    await it.return?.();
  }
}

async function prepare(entry: WalkEntry, options: ReadAheadOptions): Promise<PreparedEntry> {
  if (entry.kind !== 'file') return entry;
  // Taken synchronously, while the walk still holds the directory: opened after it moved on.
  const dir = entry.dir.retain();
  let fd: number;
  try {
    await options.beforeOpen?.(entry.path);
    // Through the held directory, O_NOFOLLOW: a file (or a directory above it) replaced by a
    // symlink after the listing is never followed out of the storage tree.
    fd = await openEntry(entry.openPath);
  } catch (error) {
    if (error instanceof ChangedDuringWalkError) return skipped(entry.path, CHANGED_DURING_WALK);
    if (errnoCode(error) === 'ENOENT') return skipped(entry.path, 'vanished');
    throw new BackupError(`Cannot open ${entry.absPath} for reading: ${(error as Error).message}`);
  } finally {
    dir.release();
  }
  const smallFileBytes = options.smallFileBytes;
  let keepOpen = false;
  try {
    const stat = await fstatAsync(fd);
    if (!stat.isFile()) return skipped(entry.path, reasonForNonFile(stat));
    const size = Number(stat.size);
    if (size > smallFileBytes) {
      keepOpen = true;
      return { kind: 'opened', path: entry.path, absPath: entry.absPath, stat, fd };
    }
    const content = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const bytesRead = await readFd(fd, content, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const after = await fstatAsync(fd);
    const changed = got !== size || after.size !== stat.size || after.mtimeNs !== stat.mtimeNs;
    return { kind: 'loaded', path: entry.path, stat, content: content.subarray(0, got), changed };
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`Cannot read ${entry.absPath}: ${(error as Error).message}`);
  } finally {
    if (!keepOpen) await closeFd(fd);
  }
}

function skipped(path: string, reason: SkipReason): WalkedSkip {
  return { kind: 'skipped', path, reason };
}

function reasonForNonFile(stat: BigIntStats): SkipReason {
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isSocket()) return 'socket';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isBlockDevice()) return 'block-device';
  if (stat.isCharacterDevice()) return 'character-device';
  // Replaced by a directory after the listing: its content is not in this listing either.
  return stat.isDirectory() ? 'vanished' : 'unknown-type';
}
