import { stat } from 'node:fs/promises';
import { BackupError } from './errors.js';
import { RECORD_SUFFIX } from './naming.js';
import { backupFiles, resolveBackupFile, sha256File, type BackupRecord } from './record.js';

/**
 * Where the off-node copy goes (another bucket or prefix). Implemented over the sync engine by
 * the caller; this module only orchestrates and checks.
 */
export interface OffNodeUploader {
  /** Uploads a local file; returns what was actually sent (computed while reading it). */
  putFile(localPath: string, key: string): Promise<{ bytes: number; sha256: string }>;
  /** Confirms the stored object matches; false or a throw means it does not. */
  verify(key: string, expected: { bytes: number; sha256: string }): Promise<boolean>;
}

export interface CopyOffNodeOptions {
  record: BackupRecord;
  uploader: OffNodeUploader;
  /** Where the backup's files are now (default: the record's backupDir). */
  backupDir?: string;
  /** Key prefix, e.g. `backups/dify/`; each backup goes under `<prefix><id>/`. */
  prefix?: string;
}

export interface OffNodeObject {
  key: string;
  localPath: string;
  bytes: number;
  sha256: string;
}

export interface CopyOffNodeResult {
  objects: OffNodeObject[];
  bytes: number;
  durationMs: number;
}

/**
 * Copies a backup's files off the node: archive, manifest, checksum list, and the record last (a
 * copy with a record is a complete copy); not the Kubernetes objects, which carry secrets. Each
 * upload is checked twice: what was sent must match the record (or the local file), and the uploader must confirm
 * the stored object.
 */
export async function copyOffNode(options: CopyOffNodeOptions): Promise<CopyOffNodeResult> {
  const started = Date.now();
  const { record, uploader } = options;
  const dir = options.backupDir ?? record.backupDir;
  const prefix = `${options.prefix ?? ''}${record.id}/`;
  const known = new Map<string, { bytes: number; sha256: string }>([
    [record.archive.fileName, { bytes: record.archive.bytes, sha256: record.archive.sha256 }],
    [record.manifest.fileName, { bytes: record.manifest.bytes, sha256: record.manifest.sha256 }],
    [record.checksums.fileName, { bytes: record.checksums.bytes, sha256: record.checksums.sha256 }],
  ]);
  // The record goes last: a copy with a record is a complete copy.
  const recordFile = `${record.id}${RECORD_SUFFIX}`;
  // The Kubernetes objects as read (raw/) and as the rollback re-creates them (sanitized/) hold
  // the install's secrets in clear: they stay on the node (0600), never in another bucket.
  const onNodeOnly = new Set(
    record.kubernetes.objects.flatMap((o) => [o.rawFile, o.sanitizedFile]),
  );
  const files = [
    ...backupFiles(record).filter((f) => f !== recordFile && !onNodeOnly.has(f)),
    recordFile,
  ];

  const objects: OffNodeObject[] = [];
  for (const fileName of files) {
    const localPath = resolveBackupFile(dir, fileName);
    const expected = known.get(fileName) ?? {
      bytes: (await stat(localPath)).size,
      sha256: await sha256File(localPath),
    };
    const key = `${prefix}${fileName.split(/[\\/]/).join('/')}`;
    const sent = await uploader.putFile(localPath, key);
    if (sent.bytes !== expected.bytes || sent.sha256 !== expected.sha256) {
      throw new BackupError(
        `Off-node copy of ${localPath} to ${key} sent ${sent.bytes} bytes with sha256 ${sent.sha256}, ` +
          `but the backup says ${expected.bytes} bytes with sha256 ${expected.sha256}: the local file ` +
          `changed or the upload read it wrongly. The off-node copy is incomplete.`,
      );
    }
    let confirmed: boolean;
    try {
      confirmed = await uploader.verify(key, expected);
    } catch (error) {
      throw new BackupError(
        `Off-node copy of ${key} could not be verified: ${(error as Error).message}`,
      );
    }
    if (!confirmed) {
      throw new BackupError(
        `Off-node copy of ${key} does not match (expected ${expected.bytes} bytes, sha256 ${expected.sha256}). ` +
          `The off-node copy is incomplete.`,
      );
    }
    objects.push({ key, localPath, ...expected });
  }
  return {
    objects,
    bytes: objects.reduce((sum, o) => sum + o.bytes, 0),
    durationMs: Date.now() - started,
  };
}
