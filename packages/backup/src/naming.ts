import { randomBytes } from 'node:crypto';
import { BackupError } from './errors.js';

/** `20261127T221221Z`: sortable, no colons (file names), always UTC. */
export function utcStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** A fresh backup id, e.g. `b-20261127T221221Z-3fa9c1`. */
export function makeBackupId(date: Date): string {
  return `b-${utcStamp(date)}-${randomBytes(3).toString('hex')}`;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Ids become file names: restrict them so that none can name a path outside the backup dir. */
export function assertValidBackupId(id: string): void {
  if (!ID_PATTERN.test(id) || id.includes('..')) {
    throw new BackupError(
      `Backup id ${JSON.stringify(id)} is not valid: use 1-100 characters from A-Z a-z 0-9 . _ -, ` +
        `starting with a letter or digit and without '..' (e.g. b-20261127T221221Z-3fa9c1).`,
    );
  }
}

/** The files that make up one backup inside its backup directory. */
export function backupFileNames(id: string, createdAt: Date) {
  return {
    archive: `dify-storage-${id}-${utcStamp(createdAt)}.tar.zst`,
    archivePartial: `${id}.tar.zst.partial`,
    manifest: `${id}.manifest.ndjson`,
    checksums: `${id}.sha256sums`,
    record: `${id}.record.json`,
  };
}

export const RECORD_SUFFIX = '.record.json';
export const PARTIAL_SUFFIX = '.partial';
