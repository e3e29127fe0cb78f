import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '@dify-storage/common';
import { ArchiveWriter } from './archive-writer.js';
import { BackupError, errnoCode } from './errors.js';
import { assertReadableDir, fsyncDir, isSameOrInside, resolveMaybeMissing } from './fs-util.js';
import { assertValidBackupId, backupFileNames, makeBackupId, PARTIAL_SUFFIX } from './naming.js';
import { preflightBackup, type PreflightReport } from './preflight.js';
import { ProgressMeter, type ProgressCallback } from './progress.js';
import { RECORD_FORMAT, sha256File, type BackupRecord, type KubernetesSnapshot } from './record.js';
import { FileSink } from './sinks.js';
import { TreeArchiver } from './tree-archiver.js';
import { verifyBackup, type VerifyBackupResult } from './verify.js';
import { TOOL_VERSION } from './version.js';

export interface CreateBackupOptions {
  storageDir: string;
  backupDir: string;
  /** Default: `b-<UTC yyyymmddThhmmssZ>-<6 hex>`. */
  backupId?: string;
  /** The backup's timestamp (names and record); default: now. */
  now?: Date;
  /** zstd level 1-19; default 3 (Dify data is mostly incompressible, higher levels buy little). */
  zstdLevel?: number;
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

/** Validated options: the zstd level, the backup's timestamp and id. */
interface Settings {
  level: number;
  createdAt: Date;
  id: string;
}

/** Where the run reads and writes. */
interface Layout {
  storageDir: string;
  backupDir: string;
  preflight: PreflightReport | null;
  names: ReturnType<typeof backupFileNames>;
  paths: {
    archivePartial: string;
    archive: string;
    manifestPartial: string;
    manifest: string;
    checksumsPartial: string;
    checksums: string;
    recordPartial: string;
    record: string;
  };
}

/** What the archive stage wrote. */
interface Archived {
  counts: BackupRecord['counts'];
  archiveBytes: number;
  manifest: { bytes: number; sha256: string };
  checksums: { bytes: number; sha256: string };
  archiveMs: number;
}

/** The open files of a run, closed and removed when it fails. */
interface RunFiles {
  archiveFile: FileHandle | null;
  tar: ArchiveWriter | null;
  sinks: FileSink[];
}

/**
 * Archives `storageDir` into `backupDir` as `dify-storage-<id>-<UTC>.tar.zst` (pax tar, zstd),
 * with a per-file NDJSON manifest and a `sha256sum -c` list, all computed in one read
 * of each file. Everything is written under temporary names, verified (re-read from disk), then
 * renamed; the record `<id>.record.json` comes last, so its presence means "complete". On
 * failure every file of the run is removed.
 */
export async function createBackup(options: CreateBackupOptions): Promise<CreateBackupResult> {
  const started = Date.now();
  const settings = checkOptions(options);
  const layout = await prepareLayout(options, settings);
  const files: RunFiles = { archiveFile: null, tar: null, sinks: [] };
  try {
    const archived = await writeArchive(options, settings, layout, files);
    const { verification, archiveSha256 } = await verifyArchive(options, layout, archived);
    await rename(layout.paths.manifestPartial, layout.paths.manifest);
    await rename(layout.paths.checksumsPartial, layout.paths.checksums);
    await rename(layout.paths.archivePartial, layout.paths.archive);
    const record = buildRecord(options, settings, layout, {
      ...archived,
      archiveSha256,
      verification,
      totalMs: Date.now() - started,
    });
    const recordSink = await FileSink.create(layout.paths.recordPartial, 0o600);
    files.sinks.push(recordSink);
    await recordSink.write(`${JSON.stringify(record, null, 2)}\n`);
    await recordSink.close();
    await rename(layout.paths.recordPartial, layout.paths.record);
    await fsyncDir(layout.backupDir);
    return {
      record,
      recordPath: layout.paths.record,
      archivePath: layout.paths.archive,
      manifestPath: layout.paths.manifest,
      checksumsPath: layout.paths.checksums,
      preflight: layout.preflight,
      verification,
    };
  } catch (caught) {
    throw await discardRun(caught, files, layout);
  }
}

function checkOptions(options: CreateBackupOptions): Settings {
  const level = options.zstdLevel ?? 3;
  if (!Number.isInteger(level) || level < 1 || level > 19) {
    throw new BackupError(
      `zstdLevel is ${options.zstdLevel}; it must be a whole number from 1 to 19.`,
    );
  }
  const createdAt = options.now ?? new Date();
  if (Number.isNaN(createdAt.getTime())) throw new BackupError('now is not a valid date.');
  const id = options.backupId ?? makeBackupId(createdAt);
  assertValidBackupId(id);
  return { level, createdAt, id };
}

/** The preflight (unless given or skipped), the directories, and the run's file names. */
async function prepareLayout(options: CreateBackupOptions, settings: Settings): Promise<Layout> {
  const { id, createdAt } = settings;
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
  const at = (name: string) => join(backupDir, name);
  const paths = {
    archivePartial: at(names.archivePartial),
    archive: at(names.archive),
    manifestPartial: at(names.manifest + PARTIAL_SUFFIX),
    manifest: at(names.manifest),
    checksumsPartial: at(names.checksums + PARTIAL_SUFFIX),
    checksums: at(names.checksums),
    recordPartial: at(names.record + PARTIAL_SUFFIX),
    record: at(names.record),
  };
  return { storageDir, backupDir, preflight, names, paths };
}

/** Writes the archive (fsynced), the manifest and the checksum list under temporary names. */
async function writeArchive(
  options: CreateBackupOptions,
  settings: Settings,
  layout: Layout,
  files: RunFiles,
): Promise<Archived> {
  const { paths } = layout;
  const archiveFile = await open(paths.archivePartial, 'wx', 0o600);
  files.archiveFile = archiveFile;
  await archiveFile.chmod(0o600);
  const manifestSink = await FileSink.create(paths.manifestPartial);
  files.sinks.push(manifestSink);
  const checksumSink = await FileSink.create(paths.checksumsPartial);
  files.sinks.push(checksumSink);

  const archiveStarted = Date.now();
  const tar = new ArchiveWriter(archiveFile.fd, settings.level);
  files.tar = tar;
  const meter = new ProgressMeter(
    'archive',
    options.onProgress,
    options.progressIntervalMs,
    layout.preflight?.dataBytes,
  );
  const archiver = new TreeArchiver(
    { tar, manifest: manifestSink, checksums: checksumSink, meter },
    {
      signal: options.signal,
      cancelled: () =>
        new BackupError(`The backup ${settings.id} was cancelled; its partial files were removed.`),
      beforeOpen: options.hooks?.beforeOpen,
    },
  );
  await archiver.run(layout.storageDir);
  await tar.finish();
  await archiveFile.sync();
  await archiveFile.close();
  files.archiveFile = null;
  const manifest = await manifestSink.close();
  const checksums = await checksumSink.close();
  meter.finish();
  return {
    counts: archiver.counts,
    archiveBytes: tar.bytesWritten,
    manifest,
    checksums,
    archiveMs: Date.now() - archiveStarted,
  };
}

/**
 * Re-reads the archive from disk against the manifest (unless disabled). The archive's sha256
 * is taken from the bytes on disk: by the verification, which reads them anyway, else by a
 * plain hash pass.
 */
async function verifyArchive(
  options: CreateBackupOptions,
  layout: Layout,
  archived: Archived,
): Promise<{ verification: VerifyBackupResult | null; archiveSha256: string }> {
  if (options.verify === false) {
    return { verification: null, archiveSha256: await sha256File(layout.paths.archivePartial) };
  }
  const verification = await verifyBackup({
    archivePath: layout.paths.archivePartial,
    manifestPath: layout.paths.manifestPartial,
    expectedManifestSha256: archived.manifest.sha256,
    totalBytes: archived.counts.dataBytes,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.progressIntervalMs !== undefined
      ? { progressIntervalMs: options.progressIntervalMs }
      : {}),
  });
  return { verification, archiveSha256: verification.archiveSha256 };
}

function buildRecord(
  options: CreateBackupOptions,
  settings: Settings,
  layout: Layout,
  done: Archived & {
    archiveSha256: string;
    verification: VerifyBackupResult | null;
    totalMs: number;
  },
): BackupRecord {
  const { names, paths, preflight } = layout;
  const { counts, verification } = done;
  const completedAt = new Date().toISOString();
  return {
    format: RECORD_FORMAT,
    id: settings.id,
    status: 'complete',
    createdAt: settings.createdAt.toISOString(),
    completedAt,
    toolVersion: options.toolVersion ?? TOOL_VERSION,
    nodeName: options.nodeName ?? null,
    namespace: options.namespace ?? null,
    storageDir: layout.storageDir,
    backupDir: layout.backupDir,
    archive: {
      fileName: names.archive,
      path: paths.archive,
      bytes: done.archiveBytes,
      sha256: done.archiveSha256,
      compression: 'zstd',
      zstdLevel: settings.level,
      tarFormat: 'pax',
    },
    manifest: {
      fileName: names.manifest,
      path: paths.manifest,
      ...done.manifest,
      format: 'ndjson',
      files: counts.files,
      dirs: counts.dirs,
      dataBytes: counts.dataBytes,
    },
    checksums: {
      fileName: names.checksums,
      path: paths.checksums,
      ...done.checksums,
      format: 'sha256sum',
    },
    counts,
    durations: {
      preflightMs: preflight?.durationMs ?? null,
      archiveMs: done.archiveMs,
      verifyMs: verification?.durationMs ?? null,
      totalMs: done.totalMs,
    },
    throughput: {
      archiveBytesPerSecond: Math.round((counts.dataBytes * 1000) / Math.max(1, done.archiveMs)),
      archiveFilesPerSecond: Math.round((counts.files * 1000) / Math.max(1, done.archiveMs)),
    },
    verification: {
      verified: verification !== null,
      verifiedAt: verification ? completedAt : null,
      files: verification?.files ?? 0,
      dirs: verification?.dirs ?? 0,
      dataBytes: verification?.bytes ?? 0,
    },
    kubernetes: options.kubernetes ?? { objects: [] },
    restoreHint:
      `mkdir -p <target> && tar --zstd -xpf ${paths.archive} -C <target> ` +
      `&& (cd <target> && sha256sum --quiet -c ${paths.checksums})`,
  };
}

/** After a failure: closes and removes every file of the run; the error to throw. */
async function discardRun(caught: unknown, files: RunFiles, layout: Layout): Promise<Error> {
  // Writes still pending on the archive's fd must end before it is closed.
  await files.tar?.settle();
  await files.archiveFile?.close().catch(() => {});
  await Promise.all(files.sinks.map((s) => s.abort()));
  const cleanup = Object.values(layout.paths);
  // What the partial files held when the disk filled up, for the message.
  const sizes = await Promise.all(
    cleanup.map((p) =>
      stat(p).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  await Promise.all(cleanup.map((p) => unlink(p).catch(() => {})));
  return asBackupError(
    caught,
    layout.backupDir,
    sizes.reduce((a, b) => a + b, 0),
  );
}

function asBackupError(error: unknown, where: string, written: number): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (errnoCode(error) === 'ENOSPC' || /No space left on device/i.test(message)) {
    // Node says "ENOSPC: no space left on device, write"; operators search for strerror's text.
    const reason = /No space left on device/.test(message)
      ? message
      : `No space left on device: ${message}`;
    return new BackupError(
      `The backup directory ${where} filled up after ${written} bytes (${formatBytes(written)}) ` +
        `were written: the backup ran out of disk space (${reason}); its partial files were ` +
        `removed, no backup record was written, and the storage directory was not touched. Free ` +
        `space or choose another backup directory (if the preflight passed, something else is ` +
        `filling the disk).`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
