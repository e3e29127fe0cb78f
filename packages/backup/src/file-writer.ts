import {
  close,
  closeSync,
  fchmod,
  fchmodSync,
  fchown,
  fchownSync,
  fsync,
  futimes,
  futimesSync,
  open,
  openSync,
  rename,
  renameSync,
  stat,
  statSync,
  unlink,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { BackupError } from './errors.js';

const openAsync = promisify(open);
const writeAsync = (fd: number, buffer: Buffer, offset: number, length: number) =>
  new Promise<number>((resolve, reject) =>
    write(fd, buffer, offset, length, null, (error, written) =>
      error ? reject(error) : resolve(written),
    ),
  );
const fchmodAsync = promisify(fchmod);
const fchownAsync = promisify(fchown);
const futimesAsync = promisify(futimes);
const fsyncAsync = promisify(fsync);
const renameAsync = promisify(rename);
const closeAsync = (fd: number) => new Promise<void>((resolve) => close(fd, () => resolve()));
const unlinkQuietly = (path: string) =>
  new Promise<void>((resolve) => unlink(path, () => resolve()));
const existsAsync = (path: string) =>
  new Promise<boolean>((resolve) => stat(path, (error) => resolve(!error)));

export interface FileAttributes {
  mode: number;
  uid: number;
  gid: number;
  /** Seconds as utimes takes them. */
  mtime: number;
}

export interface PlaceOptions {
  preserveOwnership: boolean;
  /** Check that nothing exists at the final name (only needed in a non-empty target). */
  refuseExisting: boolean;
  fsync?: boolean;
}

/**
 * A file being written under a temporary name next to its final one: chunks are appended;
 * `place` sets owner, mode and mtime through the descriptor and renames it into place;
 * `discard` removes it. Plain fds (not FileHandle): several syscalls per file add up over
 * millions of small files.
 */
export class TempFile {
  private closed = false;

  private constructor(
    readonly tempPath: string,
    readonly finalPath: string,
    private readonly fd: number,
  ) {}

  static async create(finalPath: string): Promise<TempFile> {
    const tempPath = tempNameFor(finalPath);
    const fd = await openAsync(tempPath, 'wx', 0o600);
    return new TempFile(tempPath, finalPath, fd);
  }

  async append(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      offset += await writeAsync(this.fd, chunk, offset, chunk.length - offset);
    }
  }

  async place(attributes: FileAttributes, options: PlaceOptions): Promise<void> {
    try {
      if (options.preserveOwnership) await fchownAsync(this.fd, attributes.uid, attributes.gid);
      await fchmodAsync(this.fd, attributes.mode);
      await futimesAsync(this.fd, attributes.mtime, attributes.mtime);
      if (options.fsync) await fsyncAsync(this.fd);
      this.closed = true;
      await closeAsync(this.fd);
      // Never replace something already there.
      if (options.refuseExisting && (await existsAsync(this.finalPath))) {
        throw new BackupError(
          `Refusing to overwrite ${this.finalPath}, which already exists in the target.`,
        );
      }
      await renameAsync(this.tempPath, this.finalPath);
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  async discard(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await closeAsync(this.fd);
    }
    await unlinkQuietly(this.tempPath);
  }
}

let tempCounter = 0;

/** A name next to `finalPath` that no other writer uses ('wx' makes sure of it). */
function tempNameFor(finalPath: string): string {
  tempCounter += 1;
  return join(dirname(finalPath), `.dsm-restore-${process.pid}-${tempCounter}.partial`);
}

/**
 * Writes a small file the way tar does: synchronously. For files that fit in a few pages the
 * thread-pool round trips of the async API cost more than the syscalls themselves (measured:
 * ~20 futex calls per file); writes land in the page cache, so blocking is short.
 */
export function placeSmallFileSync(
  finalPath: string,
  content: Buffer,
  attributes: FileAttributes,
  options: PlaceOptions,
): void {
  const tempPath = tempNameFor(finalPath);
  const fd = openSync(tempPath, 'wx', 0o600);
  let closed = false;
  try {
    let offset = 0;
    while (offset < content.length) {
      offset += writeSync(fd, content, offset, content.length - offset, null);
    }
    if (options.preserveOwnership) fchownSync(fd, attributes.uid, attributes.gid);
    fchmodSync(fd, attributes.mode);
    futimesSync(fd, attributes.mtime, attributes.mtime);
    closed = true;
    closeSync(fd);
    if (options.refuseExisting && existsSync(finalPath)) {
      throw new BackupError(
        `Refusing to overwrite ${finalPath}, which already exists in the target.`,
      );
    }
    renameSync(tempPath, finalPath);
  } catch (error) {
    if (!closed) closeSync(fd);
    try {
      unlinkSync(tempPath);
    } catch {
      // already gone
    }
    throw error;
  }
}

function existsSync(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
