import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lchown, lstat, mkdir, readdir, stat, utimes } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { childEnv } from '@dify-storage/common';
import { readArchive, type ArchiveEntry } from './archive-reader.js';
import { BackupError, DifferenceCollector, errnoCode } from './errors.js';
import { ManifestReader, parseMode, type ManifestDir, type ManifestFile } from './manifest.js';
import { ProgressMeter, type ProgressCallback } from './progress.js';
import { ManifestCursor } from './verify.js';
import { placeSmallFileSync, TempFile } from './file-writer.js';

export interface RestoreBackupOptions {
  archivePath: string;
  manifestPath: string;
  /** Created when missing; must be empty unless allowNonEmptyTarget. */
  targetDir: string;
  /** The archive's sha256 from the record: checked once the whole archive has been read. */
  expectedArchiveSha256?: string;
  /** Restore uid/gid from the archive (default: when running as root). */
  preserveOwnership?: boolean;
  /** Permit restoring into a directory that already has content (existing paths are refused). */
  allowNonEmptyTarget?: boolean;
  /** Flush the target file system at the end (`sync -f`), default true. */
  syncAtEnd?: boolean;
  onProgress?: ProgressCallback;
  progressIntervalMs?: number;
}

export interface RestoreBackupResult {
  targetDir: string;
  files: number;
  dirs: number;
  bytes: number;
  /** Manifest entries that were never archived (symlinks, sockets, …), hence not restored. */
  skippedInManifest: number;
  archiveSha256: string;
  durationMs: number;
}

/**
 * Extracts a backup archive into `targetDir`, checking each file's sha256 against the manifest
 * while writing it. Files are written to a temporary name in their directory, given their mode,
 * owner and mtime, and renamed only when their hash matched; directory modes and mtimes are set
 * last. Entries that could escape the target (absolute, `..`, links, devices) stop the restore.
 * Any mismatch fails the restore with the list of differences.
 */
export async function restoreBackup(options: RestoreBackupOptions): Promise<RestoreBackupResult> {
  const started = Date.now();
  const targetDir = resolve(options.targetDir);
  const targetWasEmpty = await prepareTarget(targetDir, options.allowNonEmptyTarget === true);
  const preserveOwnership = options.preserveOwnership ?? process.getuid?.() === 0;
  const diffs = new DifferenceCollector(20);
  const run: RestoreRun = {
    targetDir,
    archivePath: options.archivePath,
    meter: new ProgressMeter('restore', options.onProgress, options.progressIntervalMs),
    manifest: new ManifestCursor(new ManifestReader(options.manifestPath)),
    dirs: [],
    dirSet: new Set<string>(['']),
    file: { preserveOwnership, refuseExisting: !targetWasEmpty, diffs },
  };
  const archive = await readArchive(options.archivePath, (entry) => restoreEntry(run, entry));
  await run.manifest.rest(diffs);
  if (options.expectedArchiveSha256 && archive.sha256 !== options.expectedArchiveSha256) {
    diffs.add({
      kind: 'archive-sha256-differs',
      detail: `the archive file hashes to ${archive.sha256}, the record says ${options.expectedArchiveSha256}`,
    });
  }
  await setDirectoryAttributes(targetDir, run.dirs, preserveOwnership);
  if (options.syncAtEnd !== false) await syncFileSystem(targetDir);
  diffs.throwIfAny(options.archivePath);
  run.meter.finish();
  return {
    targetDir,
    files: run.meter.files,
    dirs: run.meter.dirs,
    bytes: run.meter.bytes,
    skippedInManifest: run.manifest.skipped,
    archiveSha256: archive.sha256,
    durationMs: Date.now() - started,
  };
}

/** One extraction in progress: where it goes, what the manifest says, what was restored. */
interface RestoreRun {
  targetDir: string;
  archivePath: string;
  meter: ProgressMeter;
  manifest: ManifestCursor;
  /** Directories restored, in archive order (their attributes are set last). */
  dirs: ManifestDir[];
  dirSet: Set<string>;
  file: FileRestoreContext;
}

/** Restores one archive entry after checking its name, its place and its manifest entry. */
async function restoreEntry(run: RestoreRun, entry: ArchiveEntry): Promise<void> {
  const { diffs } = run.file;
  const rel = safeRelativePath(entry, run.archivePath);
  const absolute = join(run.targetDir, rel);
  if (!isInside(absolute, run.targetDir)) {
    throw new BackupError(
      `Refusing archive entry ${JSON.stringify(entry.path)}: it resolves outside ${run.targetDir}.`,
    );
  }
  const m = await run.manifest.seek(rel, diffs);
  if (!m) {
    entry.content.resume();
    diffs.add({ kind: 'not-in-manifest', path: rel, detail: 'not restored' });
    return;
  }
  const parent = dirname(rel) === '.' ? '' : dirname(rel);
  if (!run.dirSet.has(parent)) {
    throw new BackupError(
      `Refusing archive entry ${JSON.stringify(rel)}: its directory was not restored before it.`,
    );
  }
  const want = entry.type === 'directory' ? 'dir' : 'file';
  if (m.type !== want) {
    entry.content.resume();
    diffs.add({
      kind: 'type-differs',
      path: rel,
      detail:
        want === 'dir'
          ? 'manifest: file, archive: directory'
          : 'manifest: directory, archive: file',
    });
    return;
  }
  if (m.type === 'dir') {
    entry.content.resume();
    await makeDirectory(absolute);
    run.dirs.push(m);
    run.dirSet.add(rel);
    run.meter.dirs += 1;
    return;
  }
  await restoreFile(entry, m, absolute, run.file);
  run.meter.files += 1;
  run.meter.bytes += entry.size;
  run.meter.tick();
}

/** Directory owners, modes and mtimes, deepest first (a child's must not touch a parent's mtime later). */
async function setDirectoryAttributes(
  targetDir: string,
  dirs: ManifestDir[],
  preserveOwnership: boolean,
): Promise<void> {
  for (const d of [...dirs].reverse()) {
    const abs = join(targetDir, d.path);
    if (preserveOwnership) await lchown(abs, d.uid, d.gid);
    await chmod(abs, parseMode(d.mode));
    await utimes(abs, nsToSeconds(d.mtimeNs), nsToSeconds(d.mtimeNs));
  }
}

/** Files up to this size are hashed in memory, then written synchronously (see placeSmallFileSync). */
const SMALL_FILE_BYTES = 1 << 20;

interface FileRestoreContext {
  preserveOwnership: boolean;
  refuseExisting: boolean;
  diffs: DifferenceCollector;
}

/**
 * Restores one file: small ones are read whole, checked, then written; large ones are
 * streamed to a temporary file and checked before being renamed into place. A mismatching
 * file is never placed.
 */
async function restoreFile(
  entry: ArchiveEntry,
  m: ManifestFile,
  absolute: string,
  ctx: FileRestoreContext,
): Promise<void> {
  const attributes = {
    mode: parseMode(m.mode),
    uid: m.uid,
    gid: m.gid,
    mtime: nsToSeconds(m.mtimeNs),
  };
  const place = { preserveOwnership: ctx.preserveOwnership, refuseExisting: ctx.refuseExisting };
  const mismatch = (size: number, sha256: string) =>
    ctx.diffs.add({
      kind: sha256 !== m.sha256 ? 'sha256-differs' : 'size-differs',
      path: m.path,
      detail: `manifest: ${m.size} bytes ${m.sha256}, archive: ${size} bytes ${sha256}; not restored`,
    });

  if (entry.size <= SMALL_FILE_BYTES) {
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    for await (const chunk of entry.content) {
      const buf = chunk as Buffer;
      hash.update(buf);
      chunks.push(buf);
    }
    const content = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const sha256 = hash.digest('hex');
    if (sha256 !== m.sha256 || content.length !== m.size) {
      mismatch(content.length, sha256);
      return;
    }
    placeSmallFileSync(absolute, content, attributes, place);
    return;
  }

  const file = await TempFile.create(absolute);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of entry.content) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      await file.append(buf);
    }
  } catch (error) {
    await file.discard();
    throw error;
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== m.sha256 || size !== m.size) {
    await file.discard();
    mismatch(size, sha256);
    return;
  }
  await file.place(attributes, place);
}

/** Validates an archive entry's name and type; returns it as a clean relative path. */
function safeRelativePath(entry: ArchiveEntry, archivePath: string): string {
  const refuse = (why: string) =>
    new BackupError(
      `Refusing archive entry ${JSON.stringify(entry.path)} in ${archivePath}: ${why}.`,
    );
  if (entry.type !== 'file' && entry.type !== 'directory') {
    throw refuse(`it is a ${entry.type}; a storage backup holds only files and directories`);
  }
  const name = entry.path.replace(/^\.\//, '');
  if (name === '' || name.includes('\0')) throw refuse('empty name or NUL byte');
  if (isAbsolute(name) || name.startsWith('/')) throw refuse('absolute path');
  const parts = name.split('/');
  if (parts.some((p) => p === '..' || p === '.' || p === ''))
    throw refuse("'..', '.' or empty path component");
  return name;
}

function isInside(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Creates a directory of the restored tree. In a target that already had content, an existing
 * real directory is reused; anything else there (a file, a symlink that could lead outside
 * the target) stops the restore.
 */
async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    const st = await lstat(path);
    if (!st.isDirectory()) {
      throw new BackupError(
        `Refusing to restore into ${path}: it already exists and is not a directory` +
          `${st.isSymbolicLink() ? ' (a symbolic link)' : ''}.`,
      );
    }
  }
}

/** Creates the target when missing; returns whether it was empty (refusing content unless allowed). */
async function prepareTarget(targetDir: string, allowNonEmpty: boolean): Promise<boolean> {
  try {
    const st = await stat(targetDir);
    if (!st.isDirectory()) {
      throw new BackupError(`The restore target ${targetDir} is not a directory.`);
    }
    const content = await readdir(targetDir);
    if (content.length && !allowNonEmpty) {
      throw new BackupError(
        `The restore target ${targetDir} is not empty (${content.length} entries, e.g. ` +
          `${content.slice(0, 3).join(', ')}). Move its content aside first (moveAside) or choose an empty directory.`,
      );
    }
    return content.length === 0;
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
    await mkdir(targetDir, { recursive: true, mode: 0o755 });
    return true;
  }
}

/**
 * Seconds as the double utimes takes. Node/libuv keep whole microseconds, truncating, and a
 * double near today's epoch is only precise to ~0.24 µs: aim at the middle of the intended
 * microsecond so that truncation lands on it.
 */
function nsToSeconds(ns: string): number {
  const v = BigInt(ns);
  const micros = (((v % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n) / 1000n;
  const seconds = (v - (((v % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)) / 1_000_000_000n;
  return Number(seconds) + (Number(micros) + 0.5) / 1e6;
}

/** `sync -f <dir>`: one syncfs for the whole restore instead of an fsync per file. */
async function syncFileSystem(dir: string): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn('sync', ['-f', dir], { stdio: 'ignore', env: childEnv() });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new BackupError(`sync -f ${dir} failed (exit code ${code}).`)),
    );
  });
}
