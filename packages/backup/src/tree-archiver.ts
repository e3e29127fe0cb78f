import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, readSync, type BigIntStats } from 'node:fs';
import { CHANGED_DURING_WALK, ChangedDuringWalkError, openEntrySync } from '@dify-storage/common';
import { BackupError, errnoCode } from './errors.js';
import { BUFFER_BYTES, type ArchiveWriter } from './archive-writer.js';
import { formatMode, manifestLine, sha256sumLine, type ManifestFile } from './manifest.js';
import type { ProgressMeter } from './progress.js';
import type { BackupRecord } from './record.js';
import type { FileSink } from './sinks.js';
import { encodeTarHeader, TAR_END_OF_ARCHIVE, type TarEntry } from './tar-format.js';
import { SKIP_REASON_TEXT, walkTree, type SkipReason, type WalkedFile } from './walk.js';

const SAMPLE_LIMIT = 20;
const BLOCK = 512;
/** Files up to this size are read whole, straight behind their header, in one archive buffer. */
const WHOLE_FILE_BYTES = 1 << 20;

export interface TreeArchiverOutputs {
  tar: ArchiveWriter;
  manifest: FileSink;
  checksums: FileSink;
  meter: ProgressMeter;
}

export interface TreeArchiverOptions {
  signal?: AbortSignal | undefined;
  /** Called when the run is cancelled through `signal`. */
  cancelled: () => Error;
  beforeOpen?: ((path: string) => void | Promise<void>) | undefined;
}

/**
 * Walks the storage tree (never following a symlink, see walkTree and safe-fs) and writes every
 * directory and regular file into the tar stream, the manifest and the checksum list. Each file
 * is read once, with blocking reads straight into the archive buffer behind its header, and
 * hashed from there: for the 4–64 KiB files of Dify storage, five blocking syscalls (open, fstat,
 * read, fstat, close) cost far less than five threadpool round trips each (profile in
 * docs/performance.md).
 */
export class TreeArchiver {
  readonly counts: BackupRecord['counts'] = {
    files: 0,
    dirs: 0,
    dataBytes: 0,
    skipped: 0,
    skippedByReason: {},
    skippedSample: [],
    changedDuringBackup: 0,
    changedSample: [],
  };

  constructor(
    private readonly out: TreeArchiverOutputs,
    private readonly options: TreeArchiverOptions,
  ) {}

  /** Archives the whole tree and ends the tar stream (the caller finishes the writer). */
  async run(storageDir: string): Promise<void> {
    const beforeOpen = this.options.beforeOpen;
    const walk = walkTree(storageDir, { statFiles: false, ...(beforeOpen ? { beforeOpen } : {}) });
    for await (const entry of walk) {
      if (this.options.signal?.aborted) throw this.options.cancelled();
      if (entry.kind === 'skipped') await this.skipped(entry.path, entry.reason);
      else if (entry.kind === 'dir') await this.dir(entry.path, entry.stat);
      else await this.file(entry);
    }
    await this.out.tar.reserve(TAR_END_OF_ARCHIVE.length);
    this.out.tar.put(TAR_END_OF_ARCHIVE);
  }

  private async skipped(path: string, reason: SkipReason): Promise<void> {
    const c = this.counts;
    c.skipped += 1;
    c.skippedByReason[reason] = (c.skippedByReason[reason] ?? 0) + 1;
    if (c.skippedSample.length < SAMPLE_LIMIT) {
      c.skippedSample.push({ path, reason, description: SKIP_REASON_TEXT[reason] });
    }
    await this.out.manifest.write(manifestLine({ type: 'skipped', path, reason }));
  }

  private async dir(path: string, stat: BigIntStats): Promise<void> {
    const header = encodeTarHeader(tarEntry(path, 'dir', stat, 0));
    await this.out.tar.reserve(header.length);
    this.out.tar.put(header);
    await this.out.manifest.write(
      manifestLine({
        type: 'dir',
        path,
        mtimeNs: String(stat.mtimeNs),
        mode: formatMode(stat.mode),
        uid: Number(stat.uid),
        gid: Number(stat.gid),
      }),
    );
    this.counts.dirs += 1;
    this.out.meter.dirs += 1;
  }

  private async file(entry: WalkedFile): Promise<void> {
    const opened = await this.open(entry);
    if (typeof opened === 'string') return this.skipped(entry.path, opened);
    const { fd, stat } = opened;
    let read: { size: number; sha256: string; changed: boolean };
    try {
      read =
        Number(stat.size) <= WHOLE_FILE_BYTES
          ? await this.wholeFile(entry, fd, stat)
          : await this.streamedFile(entry, fd, stat);
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new BackupError(`Cannot read ${entry.absPath}: ${(error as Error).message}`);
    } finally {
      closeSync(fd);
    }
    await this.recordFile(entry.path, stat, read);
  }

  /** Opens a file through its held directory, O_NOFOLLOW; a skip reason when it cannot be archived. */
  private async open(entry: WalkedFile): Promise<{ fd: number; stat: BigIntStats } | SkipReason> {
    let fd: number;
    try {
      if (this.options.beforeOpen) await this.options.beforeOpen(entry.path);
      fd = openEntrySync(entry.openPath);
    } catch (error) {
      if (error instanceof ChangedDuringWalkError) return CHANGED_DURING_WALK;
      if (errnoCode(error) === 'ENOENT') return 'vanished';
      throw new BackupError(
        `Cannot open ${entry.absPath} for reading: ${(error as Error).message}`,
      );
    }
    const stat = fstatSync(fd, { bigint: true });
    if (stat.isFile()) return { fd, stat };
    closeSync(fd);
    return reasonForNonFile(stat);
  }

  /** A small file: header, content and padding in one buffer; the header has the size read. */
  private async wholeFile(entry: WalkedFile, fd: number, stat: BigIntStats) {
    const size = Number(stat.size);
    let header = encodeTarHeader(tarEntry(entry.path, 'file', stat, size));
    const tar = this.out.tar;
    await tar.reserve(header.length + padded(size));
    const at = tar.staged + header.length;
    const got = readInto(fd, tar.buffer, at, size, 0);
    const after = fstatSync(fd, { bigint: true });
    // Shrank under us: the header says what was read (same length: only the size field differs).
    if (got !== size) header = encodeTarHeader(tarEntry(entry.path, 'file', stat, got));
    tar.put(header);
    const sha256 = createHash('sha256')
      .update(tar.buffer.subarray(at, at + got))
      .digest('hex');
    tar.staged += got;
    tar.zeros(padded(got) - got);
    this.out.meter.bytes += got;
    return { size: got, sha256, changed: got !== size || changedSince(stat, after) };
  }

  /** A large file: read in pieces into successive buffers, hashing as it goes. */
  private async streamedFile(entry: WalkedFile, fd: number, stat: BigIntStats) {
    const size = Number(stat.size);
    const tar = this.out.tar;
    const header = encodeTarHeader(tarEntry(entry.path, 'file', stat, size));
    await tar.reserve(header.length);
    tar.put(header);
    const hash: Hash = createHash('sha256');
    for (let position = 0; position < size;) {
      if (tar.space === 0) await tar.flush();
      const want = Math.min(tar.space, size - position);
      const got = readInto(fd, tar.buffer, tar.staged, want, position);
      if (got === 0) {
        // The header already promised `size` bytes: the archive cannot stay consistent.
        throw new BackupError(
          `${entry.absPath} shrank from ${size} to ${position} bytes while it was archived; ` +
            `something is rewriting it. Stop writers (or retry) and run the backup again.`,
        );
      }
      hash.update(tar.buffer.subarray(tar.staged, tar.staged + got));
      tar.staged += got;
      position += got;
      this.out.meter.bytes += got;
      this.out.meter.tick();
    }
    await tar.reserve(padded(size) - size);
    tar.zeros(padded(size) - size);
    const after = fstatSync(fd, { bigint: true });
    return { size, sha256: hash.digest('hex'), changed: changedSince(stat, after) };
  }

  private async recordFile(
    path: string,
    stat: BigIntStats,
    read: { size: number; sha256: string; changed: boolean },
  ): Promise<void> {
    const record: ManifestFile = {
      type: 'file',
      path,
      size: read.size,
      mtimeNs: String(stat.mtimeNs),
      mode: formatMode(stat.mode),
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      sha256: read.sha256,
    };
    const c = this.counts;
    if (read.changed) {
      record.changedDuringBackup = true;
      c.changedDuringBackup += 1;
      if (c.changedSample.length < SAMPLE_LIMIT) c.changedSample.push(path);
    }
    await this.out.manifest.write(manifestLine(record));
    await this.out.checksums.write(sha256sumLine(read.sha256, path));
    c.files += 1;
    c.dataBytes += read.size;
    this.out.meter.files += 1;
    this.out.meter.tick();
  }
}

// A buffer must hold the largest whole file with its header and padding.
if (WHOLE_FILE_BYTES + 16 * BLOCK > BUFFER_BYTES) throw new Error('BUFFER_BYTES too small');

function tarEntry(path: string, type: 'file' | 'dir', stat: BigIntStats, size: number): TarEntry {
  return {
    path,
    type,
    size,
    mode: Number(stat.mode),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    mtimeNs: stat.mtimeNs,
  };
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Blocking reads of up to `length` bytes at `position`; fewer only at end of file. */
function readInto(fd: number, buf: Buffer, offset: number, length: number, position: number) {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, offset + got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function changedSince(before: BigIntStats, after: BigIntStats): boolean {
  return after.size !== before.size || after.mtimeNs !== before.mtimeNs;
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
