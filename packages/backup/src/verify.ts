import { ArchiveUnreadableError, scanArchive } from './archive-reader.js';
import { DifferenceCollector } from './errors.js';
import {
  ManifestReader,
  parseMode,
  type ManifestDir,
  type ManifestFile,
  type ManifestRecord,
} from './manifest.js';
import { comparePaths } from './path-order.js';
import { sha256File } from './record.js';
import { ProgressMeter, type ProgressCallback } from './progress.js';
import type { ScannedEntry } from './tar-scan.js';

export interface VerifyBackupOptions {
  archivePath: string;
  manifestPath: string;
  /** The archive's sha256 from the backup record; checked when given. */
  expectedArchiveSha256?: string;
  /** The manifest's sha256 from the backup record; checked when given. */
  expectedManifestSha256?: string;
  /** How many differences the error message lists (all are counted). */
  maxDifferencesListed?: number;
  onProgress?: ProgressCallback;
  progressIntervalMs?: number;
  /** Content bytes expected (for the progress ETA), e.g. the record's manifest.dataBytes. */
  totalBytes?: number;
}

export interface VerifyBackupResult {
  files: number;
  dirs: number;
  /** File content bytes checked. */
  bytes: number;
  /** Manifest entries that were deliberately not archived (symlinks, sockets, …). */
  skippedInManifest: number;
  archiveBytes: number;
  archiveSha256: string;
  manifestSha256: string;
  durationMs: number;
}

/**
 * Re-reads the archive and checks every entry against the manifest: the same paths in the same
 * order, types, sizes, sha256 of the content, modes and mtimes; then the archive's and the
 * manifest's own sha256 when expected values are given. Throws BackupVerificationError listing
 * the first differences and a count per kind.
 */
export async function verifyBackup(options: VerifyBackupOptions): Promise<VerifyBackupResult> {
  const started = Date.now();
  const diffs = new DifferenceCollector(options.maxDifferencesListed ?? 20);
  const meter = new ProgressMeter(
    'verify',
    options.onProgress,
    options.progressIntervalMs,
    options.totalBytes,
  );
  const manifest = new ManifestCursor(new ManifestReader(options.manifestPath));
  let previous: string | null = null;

  let archive: { bytes: number; sha256: string } | null = null;
  try {
    archive = await scanArchive(options.archivePath, async (entry) => {
      if (previous !== null && comparePaths(entry.path, previous) <= 0) {
        diffs.add({
          kind: 'out-of-order',
          path: entry.path,
          detail: `comes after ${JSON.stringify(previous)}`,
        });
      }
      previous = entry.path;
      const m = await manifest.seek(entry.path, diffs);
      if (!m) {
        diffs.add({
          kind: 'not-in-manifest',
          path: entry.path,
          detail: `the archive holds a ${entry.type}`,
        });
      } else {
        compareEntry(m, entry, diffs);
      }
      if (entry.type === 'directory') meter.dirs += 1;
      else {
        meter.files += 1;
        meter.bytes += entry.size;
      }
      meter.tick();
    });
  } catch (error) {
    if (!(error instanceof ArchiveUnreadableError)) throw error;
    diffs.add({ kind: 'archive-unreadable', detail: error.message });
  }
  if (archive) await manifest.rest(diffs);
  else await manifest.drain();
  const manifestSha256 = manifest.reader.sha256 ?? '';
  if (options.expectedArchiveSha256) {
    // An unreadable archive was not read to the end: hash the file itself for the report.
    const actual =
      archive?.sha256 ?? (await sha256File(options.archivePath).catch(() => 'unreadable'));
    if (actual !== options.expectedArchiveSha256) {
      diffs.add({
        kind: 'archive-sha256-differs',
        detail: `the archive file hashes to ${actual}, the record says ${options.expectedArchiveSha256}`,
      });
    }
  }
  if (options.expectedManifestSha256 && manifestSha256 !== options.expectedManifestSha256) {
    diffs.add({
      kind: 'manifest-sha256-differs',
      detail: `the manifest hashes to ${manifestSha256}, the record says ${options.expectedManifestSha256}`,
    });
  }
  diffs.throwIfAny(options.archivePath);
  meter.finish();
  return {
    files: meter.files,
    dirs: meter.dirs,
    bytes: meter.bytes,
    skippedInManifest: manifest.skipped,
    archiveBytes: archive!.bytes,
    archiveSha256: archive!.sha256,
    manifestSha256,
    durationMs: Date.now() - started,
  };
}

function compareEntry(
  m: ManifestFile | ManifestDir,
  entry: ScannedEntry,
  diffs: DifferenceCollector,
): void {
  const wantType = m.type === 'file' ? 'file' : 'directory';
  if (entry.type !== wantType) {
    diffs.add({
      kind: 'type-differs',
      path: m.path,
      detail: `manifest: ${wantType}, archive: ${entry.type}`,
    });
    return;
  }
  if (m.type === 'file') {
    if (entry.size !== m.size) {
      diffs.add({
        kind: 'size-differs',
        path: m.path,
        detail: `manifest: ${m.size} bytes, archive: ${entry.size} bytes`,
      });
    }
    if (entry.sha256 !== m.sha256) {
      diffs.add({
        kind: 'sha256-differs',
        path: m.path,
        detail: `manifest: ${m.sha256}, archive: ${entry.sha256}`,
      });
    }
  }
  if (entry.mode !== parseMode(m.mode)) {
    diffs.add({
      kind: 'mode-differs',
      path: m.path,
      detail: `manifest: ${m.mode}, archive: ${entry.mode.toString(8).padStart(4, '0')}`,
    });
  }
  if (entry.mtimeNs !== BigInt(m.mtimeNs)) {
    diffs.add({
      kind: 'mtime-differs',
      path: m.path,
      detail: `manifest: ${m.mtimeNs} ns, archive: ${entry.mtimeNs} ns`,
    });
  }
}

/** One-record lookahead over the manifest, skipping (and counting) 'skipped' records. */
export class ManifestCursor {
  skipped = 0;
  private readonly it: AsyncIterator<ManifestRecord>;
  private pending: ManifestFile | ManifestDir | null | undefined = undefined;

  constructor(readonly reader: ManifestReader) {
    this.it = reader.records()[Symbol.asyncIterator]();
  }

  async peek(): Promise<ManifestFile | ManifestDir | null> {
    while (this.pending === undefined) {
      const r = await this.it.next();
      if (r.done) this.pending = null;
      else if (r.value.type === 'skipped') this.skipped += 1;
      else this.pending = r.value;
    }
    return this.pending;
  }

  take(): void {
    this.pending = undefined;
  }

  /**
   * Moves to the record of an archive entry (manifest and archive share one order): the records
   * passed on the way are missing from the archive. Answers that record, taken, or null.
   */
  async seek(path: string, diffs: DifferenceCollector): Promise<ManifestFile | ManifestDir | null> {
    for (let m = await this.peek(); m && comparePaths(m.path, path) < 0; m = await this.peek()) {
      this.missing(m, diffs);
    }
    const m = await this.peek();
    if (!m || m.path !== path) return null;
    this.take();
    return m;
  }

  /** After the archive's last entry: every record left is missing from the archive. */
  async rest(diffs: DifferenceCollector): Promise<void> {
    for (let m = await this.peek(); m; m = await this.peek()) this.missing(m, diffs);
  }

  private missing(m: ManifestFile | ManifestDir, diffs: DifferenceCollector): void {
    diffs.add({
      kind: 'missing-from-archive',
      path: m.path,
      detail: `the manifest lists a ${m.type}`,
    });
    this.take();
  }

  async drain(): Promise<void> {
    while ((await this.peek()) !== null) this.take();
  }
}
