import fs from 'node:fs';

/**
 * Walking and reading a tree that someone else can write to (a Dify pod owns the storage
 * directory) without ever leaving it through a symlink.
 *
 * Node has no openat/fdopendir and a Dirent carries no inode, so checking a path and then using
 * it is a race: a directory swapped for a symlink between the two steps sends the walk to
 * `/root` or `/etc`. Instead every directory is held open (O_DIRECTORY|O_NOFOLLOW) and its
 * entries are reached through `/proc/self/fd/<dirfd>/<name>`: that path resolves through the
 * directory actually opened, whatever its path became since, and O_NOFOLLOW refuses a symlink
 * as the last component. What was opened is then compared (dev/ino from fstat) with what the
 * walk classified; a mismatch is `changed-during-walk`, and the entry is skipped.
 * Linux only (the storage node is a Kubernetes node).
 */

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
/** O_NONBLOCK: a file replaced by a FIFO does not block the open (reads of files ignore it). */
export const FILE_OPEN_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const DIR_OPEN_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const FD_DIR = '/proc/self/fd';

/** The skip reason both engines report for an entry that is no longer what the walk saw. */
export const CHANGED_DURING_WALK = 'changed-during-walk';

export class ChangedDuringWalkError extends Error {
  readonly reason = CHANGED_DURING_WALK;
  constructor(detail: string) {
    super(`changed during the walk: ${detail}`);
    this.name = 'ChangedDuringWalkError';
  }
}

/** What identifies a file: the same dev/ino is the same file, whatever its path. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Throws ChangedDuringWalkError unless `opened` (fstat) is the file the walk saw. */
export function assertSameFile(seen: FileIdentity, opened: FileIdentity, what: string): void {
  if (!sameIdentity(seen, opened)) throw new ChangedDuringWalkError(`${what} was replaced`);
}

function changedOr(error: unknown, what: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  // ELOOP: the last component is now a symlink; ENOTDIR: a directory is now something else.
  if (code === 'ELOOP' || code === 'ENOTDIR') {
    return new ChangedDuringWalkError(`${what} is no longer what the walk classified`);
  }
  return error;
}

/**
 * An open directory of the walk, reference-counted: the walk holds one reference while it lists
 * the directory, and a consumer that opens an entry later (a task pool, a read-ahead) retains one
 * synchronously when it takes the entry and releases it when done, so the fd number cannot be
 * reused by another directory while a path through it is in use.
 */
export class DirHandle {
  private refs = 1;
  private constructor(readonly fd: number) {}

  /** Opens the root of a walk. The root itself may be a symlink: the operator chose it. */
  static async openRoot(path: string): Promise<DirHandle> {
    if (!fs.existsSync(FD_DIR)) {
      throw new Error(`${FD_DIR} is missing: walking the storage tree safely needs Linux /proc`);
    }
    const fd = await openAsync(path, O_RDONLY | O_DIRECTORY);
    return new DirHandle(fd);
  }

  /** The directory itself, as a path that resolves to the opened directory. */
  get path(): string {
    return `${FD_DIR}/${this.fd}`;
  }

  /** An entry of this directory, resolved inside the opened directory. */
  entryPath(name: string): string {
    return `${FD_DIR}/${this.fd}/${name}`;
  }

  retain(): this {
    if (this.refs <= 0) throw new Error('DirHandle used after its last release');
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) fs.close(this.fd, () => undefined);
  }

  /** Lists the opened directory (names as bytes, with their d_type). */
  readdir(): Promise<fs.Dirent<Buffer>[]> {
    return fs.promises.readdir(this.path, { withFileTypes: true, encoding: 'buffer' });
  }

  /**
   * Opens the subdirectory `name` without following a symlink; with `seen` (the walk's lstat),
   * refuses a directory that is not the one the walk saw. Throws ChangedDuringWalkError then.
   */
  async openSubdir(name: string, seen?: FileIdentity): Promise<DirHandle> {
    let fd: number;
    try {
      fd = await openAsync(this.entryPath(name), DIR_OPEN_FLAGS);
    } catch (error) {
      throw changedOr(error, `directory ${name}`);
    }
    const sub = new DirHandle(fd);
    if (seen) {
      try {
        assertSameFile(seen, await fstatAsync(fd), `directory ${name}`);
      } catch (error) {
        sub.release();
        throw error;
      }
    }
    return sub;
  }

  /** Blocking readdir, for walks that block anyway (a threadpool round trip costs more). */
  readdirSync(): fs.Dirent<Buffer>[] {
    return fs.readdirSync(this.path, { withFileTypes: true, encoding: 'buffer' });
  }

  /** Blocking openSubdir: the same checks, without two threadpool round trips. */
  openSubdirSync(name: string, seen?: FileIdentity): DirHandle {
    let sub: DirHandle;
    try {
      sub = new DirHandle(fs.openSync(this.entryPath(name), DIR_OPEN_FLAGS));
    } catch (error) {
      throw changedOr(error, `directory ${name}`);
    }
    try {
      if (seen) assertSameFile(seen, fs.fstatSync(sub.fd, { bigint: true }), `directory ${name}`);
      return sub;
    } catch (error) {
      sub.release();
      throw error;
    }
  }
}

/** lstat of an entry path (never follows the entry). Callback API: cheaper than fs.promises. */
export function lstatAsync(path: string): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) =>
    fs.lstat(path, { bigint: true }, (e, st) => (e ? reject(e) : resolve(st as fs.BigIntStats))),
  );
}

export function fstatAsync(fd: number): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) =>
    fs.fstat(fd, { bigint: true }, (e, st) => (e ? reject(e) : resolve(st as fs.BigIntStats))),
  );
}

function openAsync(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(path, flags, (e, fd) => (e ? reject(e) : resolve(fd))),
  );
}

/**
 * Opens an entry path (from DirHandle.entryPath) for reading without following a symlink.
 * Throws ChangedDuringWalkError when it became a symlink; other errors (ENOENT, EACCES) as-is.
 * The caller compares fstat with the walk's stat before using the bytes.
 */
export async function openEntry(path: string): Promise<number> {
  try {
    return await openAsync(path, FILE_OPEN_FLAGS);
  } catch (error) {
    throw changedOr(error, 'file');
  }
}

/** Blocking openEntry: for small files a blocking open is cheaper than a threadpool round trip. */
export function openEntrySync(path: string): number {
  try {
    return fs.openSync(path, FILE_OPEN_FLAGS);
  } catch (error) {
    throw changedOr(error, 'file');
  }
}
