import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { BackupError } from './errors.js';
import { assertReadableDir, isSameOrInside, resolveMaybeMissing } from './fs-util.js';
import { formatBytes } from '@dify-storage/common';
import { walkTree, type SkipReason } from './walk.js';
import { zstdVersion } from './zstd.js';

export interface PreflightOptions {
  storageDir: string;
  backupDir: string;
  /** Extra free space required on top of the estimate, as a fraction of it (default 0.1). */
  marginRatio?: number;
  /** A floor for the margin in bytes (default 64 MiB): small trees still need headroom. */
  minMarginBytes?: number;
}

export interface PreflightReport {
  /** Real (symlink-resolved) paths. */
  storageDir: string;
  backupDir: string;
  files: number;
  dirs: number;
  skipped: number;
  skippedByReason: Partial<Record<SkipReason, number>>;
  /** Sum of the regular files' sizes. */
  dataBytes: number;
  /** Conservative: compression is assumed to save nothing (Dify data is mostly JPEG/PDF/zip). */
  estimatedArchiveBytes: number;
  /** Archive + manifest + checksum list. */
  estimatedBackupBytes: number;
  marginBytes: number;
  requiredBytes: number;
  availableBytes: number;
  zstdVersion: string;
  durationMs: number;
}

const TAR_BLOCK = 512;
// Per entry: a ustar header plus, for long/unicode names or sub-second mtimes, a pax header
// and its body block.
const TAR_OVERHEAD_PER_ENTRY = 3 * TAR_BLOCK;
// A manifest line holds ~200 bytes besides the path; the checksum line ~70.
const MANIFEST_BYTES_PER_ENTRY = 220;
const CHECKSUM_BYTES_PER_FILE = 70;

/**
 * Everything that can be checked before writing a byte: the storage directory is a readable
 * directory, the backup directory is outside it and writable (or creatable), zstd is installed,
 * and the backup directory's file system has room for the archive, manifest and checksum list
 * plus a margin. Walks the tree once (streamed) to sum the file sizes.
 */
export async function preflightBackup(options: PreflightOptions): Promise<PreflightReport> {
  const started = Date.now();
  const marginRatio = options.marginRatio ?? 0.1;
  if (!(marginRatio >= 0 && marginRatio <= 10)) {
    throw new BackupError(
      `marginRatio is ${options.marginRatio}; it must be a number from 0 to 10 (e.g. 0.1 for 10%).`,
    );
  }
  const minMarginBytes = options.minMarginBytes ?? 64 * 1024 * 1024;
  const storageDir = await assertReadableDir(options.storageDir, 'storage directory');
  const backup = await resolveMaybeMissing(options.backupDir);
  if (isSameOrInside(backup.real, storageDir)) {
    throw new BackupError(
      `The backup directory ${options.backupDir} is inside the storage directory ${storageDir}: ` +
        `the backup would archive itself. Choose a directory outside it.`,
    );
  }
  try {
    await access(backup.existing, constants.W_OK | constants.X_OK);
  } catch {
    throw new BackupError(
      `The backup directory ${options.backupDir} is not writable (checked ${backup.existing}).`,
    );
  }
  const version = await zstdVersion();

  let files = 0;
  let dirs = 0;
  let dataBytes = 0;
  let manifestBytes = 0;
  let checksumBytes = 0;
  let tarBytes = 2 * TAR_BLOCK;
  const skippedByReason: Partial<Record<SkipReason, number>> = {};
  let skipped = 0;
  for await (const entry of walkTree(storageDir, { statFiles: true })) {
    const pathBytes = Buffer.byteLength(entry.path);
    manifestBytes += MANIFEST_BYTES_PER_ENTRY + pathBytes;
    if (entry.kind === 'file') {
      const size = Number(entry.stat!.size);
      files += 1;
      dataBytes += size;
      tarBytes += TAR_OVERHEAD_PER_ENTRY + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
      checksumBytes += CHECKSUM_BYTES_PER_FILE + pathBytes;
    } else if (entry.kind === 'dir') {
      dirs += 1;
      tarBytes += TAR_OVERHEAD_PER_ENTRY;
    } else {
      skipped += 1;
      skippedByReason[entry.reason] = (skippedByReason[entry.reason] ?? 0) + 1;
    }
  }

  const estimatedBackupBytes = tarBytes + manifestBytes + checksumBytes;
  const marginBytes = Math.max(minMarginBytes, Math.ceil(estimatedBackupBytes * marginRatio));
  const requiredBytes = estimatedBackupBytes + marginBytes;
  const fs = await statfs(backup.existing);
  const availableBytes = Number(fs.bavail) * Number(fs.bsize);
  if (availableBytes < requiredBytes) {
    throw new BackupError(
      `Not enough free space for the backup in ${options.backupDir}: needs ${requiredBytes} bytes ` +
        `(${formatBytes(requiredBytes)}: archive estimate ${estimatedBackupBytes} bytes for ${files} files ` +
        `and ${dirs} directories, plus a margin of ${marginBytes} bytes), but only ${availableBytes} bytes ` +
        `(${formatBytes(availableBytes)}) are available. Free space or choose another backup directory.`,
    );
  }
  return {
    storageDir,
    backupDir: backup.real,
    files,
    dirs,
    skipped,
    skippedByReason,
    dataBytes,
    estimatedArchiveBytes: tarBytes,
    estimatedBackupBytes,
    marginBytes,
    requiredBytes,
    availableBytes,
    zstdVersion: version,
    durationMs: Date.now() - started,
  };
}
