/** A progress report: emitted at most once per interval, and once at the end of a phase. */
export interface BackupProgress {
  phase: 'archive' | 'verify' | 'restore';
  files: number;
  dirs: number;
  /** File content bytes processed so far. */
  bytes: number;
  /** Expected total content bytes, when known (from the preflight or the manifest). */
  totalBytes?: number;
  elapsedMs: number;
  bytesPerSecond: number;
  filesPerSecond: number;
  /** Seconds left at the current rate, when the total is known. */
  etaSeconds?: number;
  done: boolean;
}

export type ProgressCallback = (progress: BackupProgress) => void;

export const DEFAULT_PROGRESS_INTERVAL_MS = 5000;

/** Counts work and calls the callback no more than once per interval. */
export class ProgressMeter {
  files = 0;
  dirs = 0;
  bytes = 0;
  private readonly start = Date.now();
  private last = Date.now();

  constructor(
    private readonly phase: BackupProgress['phase'],
    private readonly callback: ProgressCallback | undefined,
    private readonly intervalMs = DEFAULT_PROGRESS_INTERVAL_MS,
    private readonly totalBytes?: number,
  ) {}

  tick(): void {
    if (!this.callback) return;
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.callback(this.snapshot(false));
  }

  finish(): void {
    this.callback?.(this.snapshot(true));
  }

  elapsedMs(): number {
    return Date.now() - this.start;
  }

  snapshot(done: boolean): BackupProgress {
    const elapsedMs = Math.max(1, Date.now() - this.start);
    const bytesPerSecond = (this.bytes * 1000) / elapsedMs;
    const p: BackupProgress = {
      phase: this.phase,
      files: this.files,
      dirs: this.dirs,
      bytes: this.bytes,
      elapsedMs,
      bytesPerSecond,
      filesPerSecond: (this.files * 1000) / elapsedMs,
      done,
    };
    if (this.totalBytes !== undefined) {
      p.totalBytes = this.totalBytes;
      if (bytesPerSecond > 0) {
        p.etaSeconds = Math.max(0, (this.totalBytes - this.bytes) / bytesPerSecond);
      }
    }
    return p;
  }
}
