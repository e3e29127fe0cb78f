import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { BackupError, errnoCode } from './errors.js';
import { assertValidBackupId, PARTIAL_SUFFIX, RECORD_SUFFIX } from './naming.js';
import type { SkipReason } from './walk.js';

export const RECORD_FORMAT = 'dify-storage-backup-record/1';

/**
 * One Kubernetes object saved with the backup (filled in by the snapshot half, which lives in
 * another module). Files are paths relative to the backup directory, conventionally
 * `<id>.kubernetes/raw/…` and `<id>.kubernetes/sanitized/…` (see KUBERNETES_DIR_SUFFIX).
 */
export interface KubernetesSnapshotObject {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** The object exactly as the API server returned it. */
  rawFile?: string;
  /** The object with server-set fields removed, ready to be re-created. */
  sanitizedFile?: string;
  sha256?: string;
}

export interface KubernetesSnapshot {
  objects: KubernetesSnapshotObject[];
  /**
   * Secrets holding storage settings, whole, for rollback to put back exactly (a cutover may
   * write them). Their files stay on the node (mode 0600): unlike `objects`, they are never
   * part of an off-node copy (backupFiles), and nothing here is a value.
   */
  nodeLocalSecrets?: { name: string; file: string }[];
  /** E.g. how referenced Secrets were handled (referenced, not copied). */
  notes?: string[];
  /**
   * The install's storage trees when api, worker and ordinals do not share one volume (issue 19
   * shapes 3 and 4): the first is this backup's own tree, each other one has a backup of its own
   * (namespace unset, so no lookup by namespace finds it alone), taken before this record was written.
   */
  storageTrees?: StorageTreeRecord[];
}

/** One storage tree of an install with several (see KubernetesSnapshot.storageTrees). */
export interface StorageTreeRecord {
  /** What the tree is: `dify-api`, `dify-worker`, `dify-api ordinal 1`. */
  label: string;
  /** File-name safe form of the label (state and backup ids): `dify-api-1`. */
  slug: string;
  /** The volume as the plan described it (claim, PV, path, node). */
  volume: string;
  node: string | null;
  /** The directory as the backup's runner saw it (the rollback restores into it). */
  storageDir: string;
  /** The backup holding it: this record's own id for the first tree. */
  backupId: string;
  files: number;
  dataBytes: number;
  /** Files of that backup relative to the backup directory (retention and off-node copies). */
  backupFiles: string[];
}

export interface BackupFileRef {
  /** Name inside the backup directory (what lookups use if the directory moved). */
  fileName: string;
  /** Absolute path when the backup was written. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface BackupRecord {
  format: typeof RECORD_FORMAT;
  id: string;
  /** A record exists only for a finished (and, unless disabled, verified) backup. */
  status: 'complete';
  createdAt: string;
  completedAt: string;
  toolVersion: string;
  nodeName: string | null;
  namespace: string | null;
  storageDir: string;
  backupDir: string;
  archive: BackupFileRef & { compression: 'zstd'; zstdLevel: number; tarFormat: 'pax' };
  manifest: BackupFileRef & { format: 'ndjson'; files: number; dirs: number; dataBytes: number };
  checksums: BackupFileRef & { format: 'sha256sum' };
  counts: {
    files: number;
    dirs: number;
    dataBytes: number;
    skipped: number;
    skippedByReason: Partial<Record<SkipReason, number>>;
    /** The first skipped entries, with why. */
    skippedSample: { path: string; reason: SkipReason; description: string }[];
    /** Files whose size or mtime changed while read (archived as read; flagged in the manifest). */
    changedDuringBackup: number;
    changedSample: string[];
  };
  durations: {
    preflightMs: number | null;
    archiveMs: number;
    verifyMs: number | null;
    totalMs: number;
  };
  throughput: { archiveBytesPerSecond: number; archiveFilesPerSecond: number };
  verification: {
    verified: boolean;
    verifiedAt: string | null;
    files: number;
    dirs: number;
    dataBytes: number;
  };
  kubernetes: KubernetesSnapshot;
  /** How to restore by hand, without this tool. */
  restoreHint: string;
}

/** The directory the Kubernetes snapshot of backup `<id>` lives in: `<id>.kubernetes/`. */
export const KUBERNETES_DIR_SUFFIX = '.kubernetes';

/**
 * Every file of a backup, as paths relative to the backup directory: record first (deleting
 * it first makes a half-deleted backup look incomplete), then archive, manifest, checksum list
 * and the Kubernetes snapshot files.
 */
export function backupFiles(record: BackupRecord): string[] {
  const files = [
    `${record.id}${RECORD_SUFFIX}`,
    record.archive.fileName,
    record.manifest.fileName,
    record.checksums.fileName,
    ...record.kubernetes.objects.flatMap((o) => [o.rawFile, o.sanitizedFile]),
    ...(record.kubernetes.storageTrees ?? []).flatMap((t) =>
      t.backupId === record.id ? [] : t.backupFiles,
    ),
  ].filter((f): f is string => typeof f === 'string' && f !== '');
  return [...new Set(files)];
}

/**
 * The absolute path of a file named in a record, refusing names that would leave the backup
 * directory (absolute, `..`): a record is data and may have been edited.
 */
export function resolveBackupFile(backupDir: string, relativePath: string): string {
  const parts = relativePath.split(/[\\/]/);
  if (
    isAbsolute(relativePath) ||
    parts.some((p) => p === '..' || p === '') ||
    relativePath.includes('\0')
  ) {
    throw new BackupError(
      `The backup record names the file ${JSON.stringify(relativePath)}, which is not a plain path ` +
        `inside the backup directory ${backupDir}; refusing to touch it.`,
    );
  }
  return join(backupDir, ...parts);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** A backup found in a backup directory, with the paths of its files there. */
export interface LocatedBackup {
  record: BackupRecord;
  recordPath: string;
  archivePath: string;
  manifestPath: string;
  checksumsPath: string;
}

export interface IncompleteBackup {
  id: string;
  files: string[];
  reason: string;
}

export interface BackupListing {
  /** Newest first. */
  complete: BackupRecord[];
  incomplete: IncompleteBackup[];
}

const ARCHIVE_NAME = /^dify-storage-(.+)-\d{8}T\d{6}Z\.tar\.zst$/;
const ID_SUFFIXES = ['.tar.zst.partial', '.manifest.ndjson', '.sha256sums', RECORD_SUFFIX];

/** Reads every record in `backupDir`, and names the ids that have files but no valid record. */
export async function listBackups(backupDir: string): Promise<BackupListing> {
  let names: string[];
  try {
    names = await readdir(backupDir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new BackupError(`The backup directory ${backupDir} does not exist.`);
    }
    throw error;
  }
  const filesById = new Map<string, string[]>();
  for (const name of names) {
    const id = idOfFile(name);
    if (id) filesById.set(id, [...(filesById.get(id) ?? []), name]);
  }
  const complete: BackupRecord[] = [];
  const incomplete: IncompleteBackup[] = [];
  for (const [id, files] of filesById) {
    if (!files.includes(`${id}${RECORD_SUFFIX}`)) {
      incomplete.push({
        id,
        files: files.sort(),
        reason: 'no backup record (the run did not finish)',
      });
      continue;
    }
    try {
      complete.push(
        parseRecord(await readFile(join(backupDir, `${id}${RECORD_SUFFIX}`), 'utf8'), id),
      );
    } catch (error) {
      incomplete.push({ id, files: files.sort(), reason: (error as Error).message });
    }
  }
  complete.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  incomplete.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { complete, incomplete };
}

function idOfFile(name: string): string | null {
  const archive = ARCHIVE_NAME.exec(name);
  if (archive) return archive[1]!;
  const base =
    name.endsWith(PARTIAL_SUFFIX) && !name.endsWith('.tar.zst.partial')
      ? name.slice(0, -PARTIAL_SUFFIX.length)
      : name;
  for (const suffix of ID_SUFFIXES) {
    if (base.endsWith(suffix) && base.length > suffix.length) return base.slice(0, -suffix.length);
  }
  return null;
}

function parseRecord(text: string, id: string): BackupRecord {
  let value: Partial<BackupRecord>;
  try {
    value = JSON.parse(text) as Partial<BackupRecord>;
  } catch {
    throw new BackupError(`the record of ${id} is not valid JSON`);
  }
  if (value.format !== RECORD_FORMAT || value.id !== id || value.status !== 'complete') {
    throw new BackupError(`the record of ${id} is not a complete ${RECORD_FORMAT} record`);
  }
  if (!value.archive?.fileName || !value.manifest?.fileName || !value.checksums?.fileName) {
    throw new BackupError(`the record of ${id} does not name its files`);
  }
  return value as BackupRecord;
}

export interface FindBackupOptions {
  /** Also re-hash the archive (reads it whole); sizes and the manifest hash are always checked. */
  verifyArchiveHash?: boolean;
}

/**
 * The backup `id` in `backupDir`, after checking its files are all there and match the record.
 * A wrong id gets an error listing the ids that exist; an unfinished or damaged backup gets an
 * error saying what is missing or different.
 */
export async function findBackup(
  backupDir: string,
  id: string,
  options: FindBackupOptions = {},
): Promise<LocatedBackup> {
  assertValidBackupId(id);
  const listing = await listBackups(backupDir);
  const record = listing.complete.find((r) => r.id === id);
  if (!record) {
    const incomplete = listing.incomplete.find((b) => b.id === id);
    if (incomplete) {
      throw new BackupError(
        `Backup ${id} in ${backupDir} is incomplete and cannot be used: ${incomplete.reason} ` +
          `(files present: ${incomplete.files.join(', ')}).`,
        'blocked',
      );
    }
    throw new BackupError(
      `No backup with id ${id} in ${backupDir}. ${describeAvailable(listing)}`,
      'usage',
    );
  }
  return checkBackupFiles(backupDir, record, options);
}

export interface LatestBackupOptions extends FindBackupOptions {
  /** Only backups recorded for this Kubernetes namespace. */
  namespace?: string;
}

/** The newest complete backup (optionally of one namespace), checked like findBackup. */
export async function latestBackup(
  backupDir: string,
  options: LatestBackupOptions = {},
): Promise<LocatedBackup> {
  const listing = await listBackups(backupDir);
  const candidates = listing.complete.filter(
    (r) => options.namespace === undefined || r.namespace === options.namespace,
  );
  const newest = candidates[0];
  if (!newest) {
    const scope = options.namespace === undefined ? '' : ` for namespace ${options.namespace}`;
    throw new BackupError(
      `No complete backup${scope} in ${backupDir}. ${describeAvailable(listing)}`,
    );
  }
  return checkBackupFiles(backupDir, newest, options);
}

function describeAvailable(listing: BackupListing): string {
  const complete = listing.complete.map(
    (r) => `${r.id} (${r.createdAt}${r.namespace ? `, namespace ${r.namespace}` : ''})`,
  );
  const parts = [
    complete.length
      ? `Available backups: ${complete.join(', ')}.`
      : 'There are no complete backups.',
  ];
  if (listing.incomplete.length) {
    parts.push(`Incomplete (unusable): ${listing.incomplete.map((b) => b.id).join(', ')}.`);
  }
  return parts.join(' ');
}

async function checkBackupFiles(
  backupDir: string,
  record: BackupRecord,
  options: FindBackupOptions,
): Promise<LocatedBackup> {
  const located: LocatedBackup = {
    record,
    recordPath: join(backupDir, `${record.id}${RECORD_SUFFIX}`),
    archivePath: resolveBackupFile(backupDir, record.archive.fileName),
    manifestPath: resolveBackupFile(backupDir, record.manifest.fileName),
    checksumsPath: resolveBackupFile(backupDir, record.checksums.fileName),
  };
  const problems: string[] = [];
  const checks: [string, BackupFileRef, string, boolean][] = [
    ['archive', record.archive, located.archivePath, options.verifyArchiveHash === true],
    ['manifest', record.manifest, located.manifestPath, true],
    ['checksum list', record.checksums, located.checksumsPath, true],
  ];
  for (const [label, ref, path, hash] of checks) {
    let bytes: number;
    try {
      bytes = (await stat(path)).size;
    } catch {
      problems.push(`the ${label} ${path} is missing`);
      continue;
    }
    if (bytes !== ref.bytes) {
      problems.push(`the ${label} ${path} has ${bytes} bytes, the record says ${ref.bytes}`);
      continue;
    }
    if (hash) {
      const sha256 = await sha256File(path);
      if (sha256 !== ref.sha256) {
        problems.push(`the ${label} ${path} hashes to ${sha256}, the record says ${ref.sha256}`);
      }
    }
  }
  for (const secret of record.kubernetes.nodeLocalSecrets ?? []) {
    if (!existsSync(resolveBackupFile(backupDir, secret.file)))
      problems.push(`the node-local copy ${secret.file} of Secret ${secret.name} is missing`);
  }
  for (const object of record.kubernetes.objects) {
    for (const file of [object.rawFile, object.sanitizedFile]) {
      if (file && !existsSync(resolveBackupFile(backupDir, file))) {
        problems.push(
          `the Kubernetes snapshot file ${file} (${object.kind} ${object.name}) is missing`,
        );
      }
    }
  }
  if (problems.length) {
    throw new BackupError(
      `Backup ${record.id} in ${backupDir} is incomplete or damaged: ${problems.join('; ')}.`,
    );
  }
  return located;
}

/** sha256 and size of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

export interface RetentionOptions {
  /** Ids that must survive whatever their age (e.g. referenced by an unfinished migration). */
  protectedIds?: readonly string[];
  /** Apply to the backups of this namespace only. */
  namespace?: string;
}

export interface RetentionResult {
  /** Newest first. */
  kept: string[];
  /** Older than the newest `keep` but kept because protected. */
  protectedKept: string[];
  deleted: { id: string; files: string[]; bytes: number }[];
  /** Unfinished backups: reported, never deleted here (one may be running now). */
  incomplete: IncompleteBackup[];
}

/**
 * Keeps the newest `keep` complete backups and every protected one; deletes the files of the
 * others, record first (so that a half-deleted backup never looks complete).
 */
export async function applyRetention(
  backupDir: string,
  keep: number,
  options: RetentionOptions = {},
): Promise<RetentionResult> {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new BackupError(
      `keep is ${keep}; it must be a whole number of at least 1 (backups to keep).`,
    );
  }
  const protectedIds = new Set(options.protectedIds ?? []);
  const listing = await listBackups(backupDir);
  const scoped = listing.complete.filter(
    (r) => options.namespace === undefined || r.namespace === options.namespace,
  );
  const result: RetentionResult = {
    kept: [],
    protectedKept: [],
    deleted: [],
    incomplete: listing.incomplete,
  };
  for (const [index, record] of scoped.entries()) {
    if (index < keep) {
      result.kept.push(record.id);
      continue;
    }
    if (protectedIds.has(record.id)) {
      result.kept.push(record.id);
      result.protectedKept.push(record.id);
      continue;
    }
    const deleted: string[] = [];
    let bytes = 0;
    for (const file of backupFiles(record)) {
      const path = resolveBackupFile(backupDir, file);
      try {
        bytes += (await stat(path)).size;
        await unlink(path);
        deleted.push(file);
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    }
    // The Kubernetes snapshot directory of this id, once its listed files are gone.
    const snapshotDir = join(backupDir, `${record.id}${KUBERNETES_DIR_SUFFIX}`);
    if (await isDirectory(snapshotDir)) {
      await rm(snapshotDir, { recursive: true, force: true });
      deleted.push(`${record.id}${KUBERNETES_DIR_SUFFIX}/`);
    }
    result.deleted.push({ id: record.id, files: deleted, bytes });
  }
  return result;
}
