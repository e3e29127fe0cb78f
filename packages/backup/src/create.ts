import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError, errnoCode } from './errors.js';
import { assertReadableDir, fsyncDir, isSameOrInside, resolveMaybeMissing } from './fs-util.js';
import { formatMode, manifestLine, sha256sumLine, type ManifestFile } from './manifest.js';
import { assertValidBackupId, backupFileNames, makeBackupId, PARTIAL_SUFFIX } from './naming.js';
import { preflightBackup, type PreflightReport } from './preflight.js';
import { formatBytes } from '@dify-storage/common';
import { ProgressMeter, type ProgressCallback } from './progress.js';
import { closeFd, readAhead, readFd, statFd, type OpenedFile } from './read-ahead.js';
import { RECORD_FORMAT, sha256File, type BackupRecord, type KubernetesSnapshot } from './record.js';
import { FileSink, StreamSink } from './sinks.js';
import { encodeTarHeader, tarPadding, TAR_END_OF_ARCHIVE, type TarEntry } from './tar-format.js';
import { verifyBackup, type VerifyBackupResult } from './verify.js';
import { TOOL_VERSION } from './version.js';
import { SKIP_REASON_TEXT, walkTree, type SkipReason } from './walk.js';
import { spawnZstd, type ZstdProcess } from './zstd.js';

export interface CreateBackupOptions {
  storageDir: string;
  backupDir: string;
  /** Default: `b-<UTC yyyymmddThhmmssZ>-<6 hex>`. */
  backupId?: string;
  /** The backup's timestamp (names and record); default: now. */
  now?: Date;
  /** zstd level 1-19; default 3 (Dify data is mostly incompressible, higher levels buy little). */
  zstdLevel?: number;
  /** zstd worker threads; 0 (default) = one per core. */
  threads?: number;
  /** Recorded in the record: the Kubernetes node and namespace this storage belongs to. */
  nodeName?: string;
  namespace?: string;
  /** Preflight margin (see preflightBackup). */
  marginRatio?: number;
  /** Skip the preflight walk (only when the caller has just run it, or in tests). */
  skipPreflight?: boolean;
  /**
   * The report of a preflightBackup the caller has just run for the same directories: no
   * second walk, and its totals feed progress ETAs and the record's durations.
   */
  preflightReport?: PreflightReport;
  /** Re-read the archive against the manifest before declaring the backup complete (default true). */
  verify?: boolean;
  /** The Kubernetes snapshot taken with this backup, stored in the record. */
  kubernetes?: KubernetesSnapshot;
  onProgress?: ProgressCallback;
  /** Minimum time between progress callbacks (default 5 s). */
  progressIntervalMs?: number;
  /** Cancels the run (e.g. on SIGTERM); its files are removed like after any failure. */
  signal?: AbortSignal;
  /** Files prepared ahead of the archiver (default 16). */
  readAheadFiles?: number;
  toolVersion?: string;
  /** @internal test hooks: run after an entry is classified and before it is opened. */
  hooks?: { beforeOpen?: (path: string) => void | Promise<void> };
}

export interface CreateBackupResult {
  record: BackupRecord;
  recordPath: string;
  archivePath: string;
  manifestPath: string;
  checksumsPath: string;
  preflight: PreflightReport | null;
  verification: VerifyBackupResult | null;
}

const SMALL_FILE_BYTES = 1 << 20;
const LARGE_READ_BYTES = 1 << 20;
const SAMPLE_LIMIT = 20;

/**
 * Archives `storageDir` into `backupDir` as `dify-storage-<id>-<UTC>.tar.zst` (pax tar, zstd),
 * with a per-file NDJSON manifest and a `sha256sum -c` list, all computed in one read of each
 * file. Everything is written under temporary names, verified, renamed; the record
 * `<id>.record.json` comes last, so its presence means "complete". On failure every file of the
 * run is removed.
 */
export async function createBackup(options: CreateBackupOptions): Promise<CreateBackupResult> {
  const started = Date.now();
  const level = options.zstdLevel ?? 3;
  if (!Number.isInteger(level) || level < 1 || level > 19) {
    throw new BackupError(
      `zstdLevel is ${options.zstdLevel}; it must be a whole number from 1 to 19.`,
    );
  }
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) {
    throw new BackupError(
      `threads is ${options.threads}; it must be a whole number from 0 (all cores) to 256.`,
    );
  }
  const createdAt = options.now ?? new Date();
  if (Number.isNaN(createdAt.getTime())) throw new BackupError('now is not a valid date.');
  const id = options.backupId ?? makeBackupId(createdAt);
  assertValidBackupId(id);

  const preflight =
    options.preflightReport ??
    (options.skipPreflight
      ? null
      : await preflightBackup({
          storageDir: options.storageDir,
          backupDir: options.backupDir,
          ...(options.marginRatio !== undefined ? { marginRatio: options.marginRatio } : {}),
        }));
  const storageDir = await assertReadableDir(options.storageDir, 'storage directory');
  if (preflight && preflight.storageDir !== storageDir) {
    throw new BackupError(
      `The preflight report is for ${preflight.storageDir}, not for the storage directory ${storageDir}.`,
    );
  }
  const backupDir = preflight?.backupDir ?? (await resolveMaybeMissing(options.backupDir)).real;
  if (isSameOrInside(backupDir, storageDir)) {
    throw new BackupError(
      `The backup directory ${backupDir} is inside the storage directory ${storageDir}.`,
    );
  }
  await mkdir(backupDir, { recursive: true, mode: 0o700 });
  const names = backupFileNames(id, createdAt);
  const existing = (await readdir(backupDir)).filter(
    // `<id>.kubernetes/` is the snapshot the caller writes just before the archive.
    (n) => (n.startsWith(`${id}.`) && n !== `${id}.kubernetes`) || n === names.archive,
  );
  if (existing.length) {
    throw new BackupError(
      `Backup id ${id} is already used in ${backupDir} (${existing.join(', ')}); choose another id.`,
    );
  }

  const paths = {
    archivePartial: join(backupDir, names.archivePartial),
    archive: join(backupDir, names.archive),
    manifestPartial: join(backupDir, names.manifest + PARTIAL_SUFFIX),
    manifest: join(backupDir, names.manifest),
    checksumsPartial: join(backupDir, names.checksums + PARTIAL_SUFFIX),
    checksums: join(backupDir, names.checksums),
    recordPartial: join(backupDir, names.record + PARTIAL_SUFFIX),
    record: join(backupDir, names.record),
  };
  // Everything this run may have created, removed on failure.
  const cleanup = Object.values(paths);
  const sinks: FileSink[] = [];
  let archiveFile: FileHandle | null = null;
  let zstd: ZstdProcess | null = null;
  try {
    // zstd writes the archive straight into this 0600 file (see spawnZstd).
    archiveFile = await open(paths.archivePartial, 'wx', 0o600);
    await archiveFile.chmod(0o600);
    const manifestSink = await FileSink.create(paths.manifestPartial);
    sinks.push(manifestSink);
    const checksumSink = await FileSink.create(paths.checksumsPartial);
    sinks.push(checksumSink);

    const archiveStarted = Date.now();
    zstd = spawnZstd(
      ['-q', '-c', `-${level}`, `-T${threads}`],
      'compress the archive',
      archiveFile.fd,
    );
    const z = zstd;
    const tar = new StreamSink(z.stdin, () => (z.hasExited() ? new ZstdGoneError() : null));

    const meter = new ProgressMeter(
      'archive',
      options.onProgress,
      options.progressIntervalMs,
      preflight?.dataBytes,
    );
    const counts: BackupRecord['counts'] = {
      files: 0,
      dirs: 0,
      dataBytes: 0,
      skipped: 0,
      skippedByReason: {},
      skippedSample: [],
      changedDuringBackup: 0,
      changedSample: [],
    };
    const noteSkipped = (path: string, reason: SkipReason) => {
      counts.skipped += 1;
      counts.skippedByReason[reason] = (counts.skippedByReason[reason] ?? 0) + 1;
      if (counts.skippedSample.length < SAMPLE_LIMIT) {
        counts.skippedSample.push({ path, reason, description: SKIP_REASON_TEXT[reason] });
      }
    };

    const beforeOpen = options.hooks?.beforeOpen;
    const walk = walkTree(storageDir, { statFiles: false, ...(beforeOpen ? { beforeOpen } : {}) });
    const entries = readAhead(walk, {
      depth: options.readAheadFiles ?? 16,
      smallFileBytes: SMALL_FILE_BYTES,
      ...(beforeOpen ? { beforeOpen } : {}),
    });
    for await (const entry of entries) {
      if (options.signal?.aborted) {
        throw new BackupError(`The backup ${id} was cancelled; its partial files were removed.`);
      }
      if (entry.kind === 'skipped') {
        noteSkipped(entry.path, entry.reason);
        await manifestSink.write(
          manifestLine({ type: 'skipped', path: entry.path, reason: entry.reason }),
        );
        continue;
      }
      if (entry.kind === 'dir') {
        const header: TarEntry = {
          path: entry.path,
          type: 'dir',
          size: 0,
          mode: Number(entry.stat.mode),
          uid: Number(entry.stat.uid),
          gid: Number(entry.stat.gid),
          mtimeNs: entry.stat.mtimeNs,
        };
        await tar.write(encodeTarHeader(header));
        await manifestSink.write(
          manifestLine({
            type: 'dir',
            path: entry.path,
            mtimeNs: String(entry.stat.mtimeNs),
            mode: formatMode(entry.stat.mode),
            uid: header.uid,
            gid: header.gid,
          }),
        );
        counts.dirs += 1;
        meter.dirs += 1;
        continue;
      }
      const stat = entry.stat;
      const header: TarEntry = {
        path: entry.path,
        type: 'file',
        size: entry.kind === 'loaded' ? entry.content.length : Number(stat.size),
        mode: Number(stat.mode),
        uid: Number(stat.uid),
        gid: Number(stat.gid),
        mtimeNs: stat.mtimeNs,
      };
      await tar.write(encodeTarHeader(header));
      let sha256: string;
      let changed: boolean;
      if (entry.kind === 'loaded') {
        sha256 = createHash('sha256').update(entry.content).digest('hex');
        await tar.write(entry.content);
        changed = entry.changed;
      } else {
        ({ sha256, changed } = await streamLargeFile(entry, tar, meter));
      }
      await tar.write(tarPadding(header.size));
      const record: ManifestFile = {
        type: 'file',
        path: entry.path,
        size: header.size,
        mtimeNs: String(stat.mtimeNs),
        mode: formatMode(stat.mode),
        uid: header.uid,
        gid: header.gid,
        sha256,
      };
      if (changed) {
        record.changedDuringBackup = true;
        counts.changedDuringBackup += 1;
        if (counts.changedSample.length < SAMPLE_LIMIT) counts.changedSample.push(entry.path);
      }
      await manifestSink.write(manifestLine(record));
      await checksumSink.write(sha256sumLine(sha256, entry.path));
      counts.files += 1;
      counts.dataBytes += header.size;
      meter.files += 1;
      if (entry.kind === 'loaded') meter.bytes += header.size;
      meter.tick();
    }
    await tar.write(TAR_END_OF_ARCHIVE);
    try {
      await tar.end();
    } finally {
      await z.exited; // zstd's own message (e.g. "No space left on device") beats EPIPE
    }
    await archiveFile.sync();
    const archiveBytes = (await archiveFile.stat()).size;
    await archiveFile.close();
    archiveFile = null;
    const manifest = await manifestSink.close();
    const checksums = await checksumSink.close();
    meter.finish();
    const archiveMs = Date.now() - archiveStarted;

    // The archive's sha256 is taken from the bytes on disk, read back: by the verification
    // pass when there is one (it reads the archive anyway), else by a plain hash pass.
    let verification: VerifyBackupResult | null = null;
    let archiveSha256: string;
    if (options.verify !== false) {
      verification = await verifyBackup({
        archivePath: paths.archivePartial,
        manifestPath: paths.manifestPartial,
        expectedManifestSha256: manifest.sha256,
        totalBytes: counts.dataBytes,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.progressIntervalMs !== undefined
          ? { progressIntervalMs: options.progressIntervalMs }
          : {}),
      });
      archiveSha256 = verification.archiveSha256;
    } else {
      archiveSha256 = await sha256File(paths.archivePartial);
    }

    await rename(paths.manifestPartial, paths.manifest);
    await rename(paths.checksumsPartial, paths.checksums);
    await rename(paths.archivePartial, paths.archive);
    const completedAt = new Date();
    const totalMs = Date.now() - started;
    const record: BackupRecord = {
      format: RECORD_FORMAT,
      id,
      status: 'complete',
      createdAt: createdAt.toISOString(),
      completedAt: completedAt.toISOString(),
      toolVersion: options.toolVersion ?? TOOL_VERSION,
      nodeName: options.nodeName ?? null,
      namespace: options.namespace ?? null,
      storageDir,
      backupDir,
      archive: {
        fileName: names.archive,
        path: paths.archive,
        bytes: archiveBytes,
        sha256: archiveSha256,
        compression: 'zstd',
        zstdLevel: level,
        tarFormat: 'pax',
      },
      manifest: {
        fileName: names.manifest,
        path: paths.manifest,
        bytes: manifest.bytes,
        sha256: manifest.sha256,
        format: 'ndjson',
        files: counts.files,
        dirs: counts.dirs,
        dataBytes: counts.dataBytes,
      },
      checksums: {
        fileName: names.checksums,
        path: paths.checksums,
        bytes: checksums.bytes,
        sha256: checksums.sha256,
        format: 'sha256sum',
      },
      counts,
      durations: {
        preflightMs: preflight?.durationMs ?? null,
        archiveMs,
        verifyMs: verification?.durationMs ?? null,
        totalMs,
      },
      throughput: {
        archiveBytesPerSecond: Math.round((counts.dataBytes * 1000) / Math.max(1, archiveMs)),
        archiveFilesPerSecond: Math.round((counts.files * 1000) / Math.max(1, archiveMs)),
      },
      verification: {
        verified: verification !== null,
        verifiedAt: verification ? completedAt.toISOString() : null,
        files: verification?.files ?? 0,
        dirs: verification?.dirs ?? 0,
        dataBytes: verification?.bytes ?? 0,
      },
      kubernetes: options.kubernetes ?? { objects: [] },
      restoreHint:
        `mkdir -p <target> && tar --zstd -xpf ${paths.archive} -C <target> ` +
        `&& (cd <target> && sha256sum --quiet -c ${paths.checksums})`,
    };
    const recordSink = await FileSink.create(paths.recordPartial, 0o600);
    sinks.push(recordSink);
    await recordSink.write(`${JSON.stringify(record, null, 2)}\n`);
    await recordSink.close();
    await rename(paths.recordPartial, paths.record);
    await fsyncDir(backupDir);
    return {
      record,
      recordPath: paths.record,
      archivePath: paths.archive,
      manifestPath: paths.manifest,
      checksumsPath: paths.checksums,
      preflight,
      verification,
    };
  } catch (caught) {
    let error = caught;
    // zstd's own message (e.g. a write error) says more than the broken pipe it left behind:
    // ZstdGoneError, or the EPIPE of a write to the stdin of a zstd that died (of ENOSPC).
    const brokenPipe =
      errnoCode(error) === 'EPIPE' ||
      /\bEPIPE\b/.test(error instanceof Error ? error.message : String(error));
    if ((error instanceof ZstdGoneError || brokenPipe) && zstd)
      error = await zstd.exited.then(
        () => error,
        (e: unknown) => e,
      );
    zstd?.kill();
    await archiveFile?.close().catch(() => {});
    await Promise.all(sinks.map((s) => s.abort()));
    // What the partial files held when the disk filled up, for the message.
    const written = (
      await Promise.all(
        cleanup.map((p) =>
          stat(p).then(
            (s) => s.size,
            () => 0,
          ),
        ),
      )
    ).reduce((a, b) => a + b, 0);
    await Promise.all(cleanup.map((p) => unlink(p).catch(() => {})));
    throw asBackupError(error, backupDir, written);
  }
}

/** Reads a large file in chunks into the tar stream, hashing as it goes. */
async function streamLargeFile(
  entry: OpenedFile,
  tar: StreamSink,
  meter: ProgressMeter,
): Promise<{ sha256: string; changed: boolean }> {
  const hash = createHash('sha256');
  const size = Number(entry.stat.size);
  try {
    let position = 0;
    while (position < size) {
      const buf = Buffer.allocUnsafe(Math.min(LARGE_READ_BYTES, size - position));
      const bytesRead = await readFd(entry.fd, buf, 0, buf.length, position);
      if (bytesRead === 0) {
        // The header already promised `size` bytes: the archive cannot stay consistent.
        throw new BackupError(
          `${entry.absPath} shrank from ${size} to ${position} bytes while it was archived; ` +
            `something is rewriting it. Stop writers (or retry) and run the backup again.`,
        );
      }
      const piece = buf.subarray(0, bytesRead);
      hash.update(piece);
      await tar.write(piece);
      position += bytesRead;
      meter.bytes += bytesRead;
      meter.tick();
    }
    const after = await statFd(entry.fd);
    return {
      sha256: hash.digest('hex'),
      changed: after.size !== entry.stat.size || after.mtimeNs !== entry.stat.mtimeNs,
    };
  } finally {
    await closeFd(entry.fd);
  }
}

class ZstdGoneError extends BackupError {
  constructor() {
    super('zstd exited before the archive was complete.');
  }
}

function asBackupError(error: unknown, where: string, written: number): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (errnoCode(error) === 'ENOSPC' || /No space left on device/i.test(message)) {
    return new BackupError(
      `The backup directory ${where} filled up after ${written} bytes (${formatBytes(written)}) ` +
        `were written: the backup ran out of disk space (${message}); its partial files were ` +
        `removed, no backup record was written, and the storage directory was not touched. Free ` +
        `space or choose another backup directory (if the preflight passed, something else is ` +
        `filling the disk).`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
