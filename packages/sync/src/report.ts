import { formatBytes, formatDuration } from '@dify-storage/common';
import { SyncFailedError } from './errors.js';
import type { DeltaScan } from './delta-prune.js';
import type { S3Op } from './transport.js';

export interface FileIssue {
  path: string;
  reason: string;
  detail?: string;
}

export interface FileFailure {
  path: string;
  key: string;
  error: string;
}

/** Counted per run; lists are capped (see `*Truncated`) so a report of millions of files stays small. */
export interface SyncReport {
  kind: 'sync-to-bucket' | 'sync-from-bucket';
  mode: string;
  dryRun: boolean;
  source: string;
  destination: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  ok: boolean;
  counts: {
    /** Regular files (or objects) considered. */
    files: number;
    copied: number;
    skipped: number;
    failed: number;
    /** Keys refused because they could escape the root (reverse sync). */
    refused: number;
    /** Symlinks, sockets, devices, unreadable or vanished files, invalid names. */
    unsupported: number;
    excluded: number;
    emptyDirs: number;
    /** Objects in the bucket with no counterpart in the source (never deleted). */
    extra: number;
    /** Skipped only after reading the file (no record in the state journal). */
    verifiedByRead: number;
    resumedUploads: number;
    /** Re-reads because the file changed while it was read or uploaded. */
    requeued: number;
  };
  bytes: { total: number; copied: number; skipped: number };
  throughput: { filesPerSec: number; bytesPerSec: number };
  requests: Partial<Record<S3Op, number>>;
  retries: number;
  unsupportedByReason: Record<string, number>;
  unsupported: FileIssue[];
  refused: FileIssue[];
  emptyDirs: string[];
  extraSample: string[];
  failures: FileFailure[];
  listsTruncated: boolean;
  /** A delta run: which directories it listed, and why it walked the whole tree if it did. */
  delta?: DeltaScan;
}

export const LIST_LIMIT = 1000;

export function emptyReport(
  kind: SyncReport['kind'],
  mode: string,
  dryRun: boolean,
  source: string,
  destination: string,
): SyncReport {
  return {
    kind,
    mode,
    dryRun,
    source,
    destination,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    durationMs: 0,
    ok: false,
    counts: {
      files: 0,
      copied: 0,
      skipped: 0,
      failed: 0,
      refused: 0,
      unsupported: 0,
      excluded: 0,
      emptyDirs: 0,
      extra: 0,
      verifiedByRead: 0,
      resumedUploads: 0,
      requeued: 0,
    },
    bytes: { total: 0, copied: 0, skipped: 0 },
    throughput: { filesPerSec: 0, bytesPerSec: 0 },
    requests: {},
    retries: 0,
    unsupportedByReason: {},
    unsupported: [],
    refused: [],
    emptyDirs: [],
    extraSample: [],
    failures: [],
    listsTruncated: false,
  };
}

export function pushCapped<T>(report: SyncReport, list: T[], item: T): void {
  if (list.length < LIST_LIMIT) list.push(item);
  else report.listsTruncated = true;
}

export function finishReport(report: SyncReport, started: number): SyncReport {
  const ms = Date.now() - started;
  report.finishedAt = new Date().toISOString();
  report.durationMs = ms;
  const s = Math.max(ms, 1) / 1000;
  report.throughput = {
    filesPerSec: Math.round((report.counts.copied / s) * 10) / 10,
    bytesPerSec: Math.round(report.bytes.copied / s),
  };
  report.ok = report.counts.failed === 0;
  return report;
}

export interface ProgressEvent {
  phase: 'running' | 'done';
  filesDone: number;
  /** Files found so far; final once `scanComplete`. */
  filesSeen: number;
  bytesDone: number;
  bytesSeen: number;
  copied: number;
  skipped: number;
  failed: number;
  scanComplete: boolean;
  elapsedMs: number;
  filesPerSec: number;
  bytesPerSec: number;
  /** Seconds left, when the scan is complete and a rate is known. */
  etaSeconds: number | undefined;
}

/** Calls `onProgress` at most every `intervalMs` (and once at the end). */
export class ProgressTicker {
  filesSeen = 0;
  bytesSeen = 0;
  filesDone = 0;
  bytesDone = 0;
  scanComplete = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private lastFiles = 0;
  private lastBytes = 0;
  private lastAt = Date.now();

  constructor(
    private readonly report: SyncReport,
    private readonly onProgress: ((e: ProgressEvent) => void) | undefined,
    intervalMs: number,
  ) {
    if (onProgress) {
      this.timer = setInterval(() => this.emit('running'), Math.max(100, intervalMs));
      this.timer.unref();
    }
  }

  private emit(phase: ProgressEvent['phase']): void {
    const now = Date.now();
    const dt = Math.max(1, now - this.lastAt) / 1000;
    const elapsed = now - this.started;
    // Rate over the last interval (what the log reader wants), overall at the end.
    const filesPerSec =
      phase === 'done'
        ? this.filesDone / Math.max(elapsed / 1000, 0.001)
        : (this.filesDone - this.lastFiles) / dt;
    const bytesPerSec =
      phase === 'done'
        ? this.bytesDone / Math.max(elapsed / 1000, 0.001)
        : (this.bytesDone - this.lastBytes) / dt;
    this.lastFiles = this.filesDone;
    this.lastBytes = this.bytesDone;
    this.lastAt = now;
    let eta: number | undefined;
    if (this.scanComplete && phase === 'running') {
      const overall = this.bytesDone / Math.max(elapsed / 1000, 0.001);
      const overallFiles = this.filesDone / Math.max(elapsed / 1000, 0.001);
      const byBytes = overall > 0 ? (this.bytesSeen - this.bytesDone) / overall : Infinity;
      const byFiles =
        overallFiles > 0 ? (this.filesSeen - this.filesDone) / overallFiles : Infinity;
      const e = Math.min(byBytes, byFiles);
      eta = Number.isFinite(e) ? Math.round(e) : undefined;
    }
    this.onProgress?.({
      phase,
      filesDone: this.filesDone,
      filesSeen: this.filesSeen,
      bytesDone: this.bytesDone,
      bytesSeen: this.bytesSeen,
      copied: this.report.counts.copied,
      skipped: this.report.counts.skipped,
      failed: this.report.counts.failed,
      scanComplete: this.scanComplete,
      elapsedMs: elapsed,
      filesPerSec: Math.round(filesPerSec * 10) / 10,
      bytesPerSec: Math.round(bytesPerSec),
      etaSeconds: phase === 'done' ? 0 : eta,
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.onProgress) this.emit('done');
  }
}

/** One progress line for a log (not one line per file). */
export function formatProgress(e: ProgressEvent): string {
  const total = e.scanComplete ? `/${e.filesSeen}` : `/${e.filesSeen}+`;
  const eta = e.etaSeconds !== undefined ? `, ETA ${formatDuration(e.etaSeconds * 1000)}` : '';
  return `${e.filesDone}${total} files (${e.copied} copied, ${e.skipped} skipped, ${e.failed} failed), ${formatBytes(e.bytesDone)}, ${e.filesPerSec} files/s, ${formatBytes(e.bytesPerSec)}/s${eta}`;
}

/** A human summary of a report (a few lines, then the failures). */
export function formatSummary(report: SyncReport): string {
  const c = report.counts;
  const lines = [
    `${report.kind}${report.dryRun ? ' (dry run)' : ''} [${report.mode}]: ${report.source} -> ${report.destination}: ${report.ok ? 'OK' : 'FAILED'}`,
    `  files ${c.files}: ${report.dryRun ? 'would copy' : 'copied'} ${c.copied} (${formatBytes(report.bytes.copied)}), skipped ${c.skipped} (identical), failed ${c.failed}, refused ${c.refused}, unsupported ${c.unsupported}, excluded ${c.excluded}`,
    `  ${formatDuration(report.durationMs)}, ${report.throughput.filesPerSec} files/s, ${formatBytes(report.throughput.bytesPerSec)}/s; requests ${
      Object.entries(report.requests)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }; retries ${report.retries}`,
  ];
  if (report.delta) lines.push(`  ${formatDeltaScan(report.delta)}`);
  if (c.emptyDirs > 0) lines.push(`  empty directories (no object in S3): ${c.emptyDirs}`);
  if (c.extra > 0) lines.push(`  in the destination but not in the source (kept): ${c.extra}`);
  if (c.unsupported > 0) {
    lines.push(
      `  unsupported: ${Object.entries(report.unsupportedByReason)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    for (const u of report.unsupported.slice(0, 20))
      lines.push(`    ${u.reason}: ${u.path}${u.detail ? ` (${u.detail})` : ''}`);
  }
  if (c.refused > 0) {
    lines.push(`  refused keys: ${c.refused}`);
    for (const r of report.refused.slice(0, 20))
      lines.push(`    ${JSON.stringify(r.path)}: ${r.reason}`);
  }
  if (report.failures.length > 0) {
    lines.push(`  failed:`);
    for (const f of report.failures.slice(0, 50)) lines.push(`    ${f.path}: ${f.error}`);
    if (report.failures.length > 50)
      lines.push(`    … and ${c.failed - 50} more (see the JSON report)`);
  }
  return lines.join('\n');
}

/** One line on how a delta found its candidates. */
export function formatDeltaScan(d: DeltaScan): string {
  if (d.strategy === 'full') return `delta: walked the whole tree (${d.reason ?? 'asked to'})`;
  const named = d.namedByDatabase
    ? `; ${d.namedByDatabase} file(s) named by the database${d.namedMissing.length ? `, ${d.namedMissing.length} of them not in the tree` : ''}`
    : '';
  return `delta: listed ${d.dirsListed} of ${d.dirsKnown + d.dirsNew} directories (${d.dirsNew} new, ${d.dirsPruned} unchanged since the copy of ${d.since ?? '?'}), stat'ed ${d.filesStated} file(s)${named}`;
}

/** Ends a run: throws SyncFailedError listing the failed files when asked to, else returns the report. */
export function returnOrThrow(report: SyncReport, what: string, throwOnFailure = true): SyncReport {
  if (!report.ok && throwOnFailure) {
    throw new SyncFailedError(
      `${report.counts.failed} ${what}:\n${report.failures
        .slice(0, 50)
        .map((f) => `  ${f.path}: ${f.error}`)
        .join('\n')}`,
      report,
    );
  }
  return report;
}
