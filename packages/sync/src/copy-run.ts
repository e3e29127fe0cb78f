import { TaskPool } from './fileio.js';
import { holdHeap } from './heap.js';
import type { BucketOptions } from './options.js';
import { ProgressTicker, finishReport, returnOrThrow, type SyncReport } from './report.js';
import { S3Transport } from './transport.js';

/** What a copy in either direction holds for its run: transport, report, progress, task pool. */
export abstract class CopyRun {
  protected readonly transport: S3Transport;
  protected readonly ticker: ProgressTicker;
  protected readonly pool: TaskPool;
  /** Keeps V8's young and old generations from growing far past what is live (see heap.ts). */
  private readonly releaseHeap: () => void;

  constructor(
    options: BucketOptions & { throwOnFailure?: boolean },
    concurrency: number,
    /** Sockets beyond the concurrency (probes, listing pages ahead). */
    spareSockets: number,
    protected readonly report: SyncReport,
  ) {
    this.transport = new S3Transport(options.target, {
      maxSockets: concurrency + spareSockets,
      ...options.transport,
    });
    this.ticker = new ProgressTicker(
      report,
      options.onProgress,
      options.progressIntervalMs ?? 2000,
    );
    this.pool = new TaskPool(concurrency);
    // Last: a constructor that throws (bad endpoint) must not leave the heap held.
    this.releaseHeap = holdHeap();
  }

  /** Stops the progress, counts the requests, frees the sockets (in a `finally`). */
  protected close(): void {
    this.ticker.stop();
    this.report.requests = { ...this.transport.counts };
    this.report.retries = this.transport.retries;
    this.transport.close();
    this.releaseHeap();
  }

  /** The finished report, or SyncFailedError (carrying it) when files failed. */
  protected result(started: number, failureText: string, throwOnFailure?: boolean): SyncReport {
    finishReport(this.report, started);
    return returnOrThrow(this.report, failureText, throwOnFailure);
  }
}
