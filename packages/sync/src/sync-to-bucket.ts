import { promises as fsp } from 'node:fs';
import type fs from 'node:fs';
import fsSync from 'node:fs';
import { ChangedDuringWalkError, sameIdentity, sleep } from '@dify-storage/common';
import { multipartEtag } from '@dify-storage/s3';
import { decide } from './decide.js';
import {
  deltaBase,
  journalMarch,
  runWalk,
  type DeltaBase,
  type DeltaOptions,
  type RunWalk,
} from './delta-prune.js';
import { SyncConfigError, errorText } from './errors.js';
import { CopyRun } from './copy-run.js';
import { lstat, sameVersion } from './fileio.js';
import { compileExcludes, type KeyMatcher } from './glob.js';
import { MiB, hashFile, partSizeFor, type FileHashes } from './hashing.js';
import { joinKey, normalizePrefix } from './keys.js';
import { listParallelPages } from './listing.js';
import { ListingCursor, march } from './march.js';
import { defaultConcurrency, positiveInt, type BucketOptions } from './options.js';
import { preflight } from './preflight.js';
import { emptyReport, pushCapped, type SyncReport } from './report.js';
import { SyncState, type FileRecord } from './state.js';
import { UnsupportedFileError, Uploader, fileRecord, openError, type Outcome } from './upload.js';
import type { WalkEntry, WalkHooks } from './walk.js';

export interface SyncToBucketOptions extends BucketOptions {
  /** Local directory whose tree is copied; key = prefix + POSIX path relative to it. */
  root: string;
  /**
   * Directory for the run's journal and hash cache (resume, cheap delta). Without it every
   * same-size object is verified by reading the local file.
   */
  stateDir?: string;
  /** A label in the report: `bulk` (first copy) or `delta` (final pass); the algorithm is the same. */
  mode?: 'bulk' | 'delta';
  /** Decide and report, write nothing (no PUT, no state). */
  dryRun?: boolean;
  /** The freeze-window delta (mode `delta`): which directories it may leave unlisted. */
  delta?: DeltaOptions;
  /** Globs of paths to leave out (see glob.ts). */
  exclude?: readonly string[];
  /**
   * Files larger than this go multipart (default 200 MiB, rclone's cutoff: below it one streamed
   * PUT costs one md5 pass less than parts do).
   */
  multipartThreshold?: number;
  /**
   * Bytes per second all uploads together may send (0 or absent: no limit), so that the node
   * keeps bandwidth for Dify during a bulk copy.
   */
  bandwidthLimit?: number;
  /** Multipart part size (default 16 MiB, grown to stay within 10,000 parts). */
  partSize?: number;
  /** Parts in flight per multipart file (default 4). */
  partConcurrency?: number;
  /** Bytes of file content held in memory at once (default 192 MiB). */
  memoryBudget?: number;
  /** Re-reads of a file that keeps changing before it is reported as failed (default 5). */
  maxChangeRetries?: number;
  /**
   * Files up to this size are read with blocking calls (default 1 MiB): cheapest on page-cached
   * or SSD storage. Set 0 on slow network or spinning disks to keep reads off the event loop.
   */
  syncReadMax?: number;
  /** Throw SyncFailedError (carrying the report) when files failed (default true). */
  throwOnFailure?: boolean;
  /** @internal test hooks. */
  hooks?: {
    afterRead?: (key: string) => void | Promise<void>;
    afterPart?: (key: string, partNumber: number) => void | Promise<void>;
  } & WalkHooks;
}

const MAX_S3_KEY_BYTES = 1024;

/** The options of one run, validated once. */
interface ToBucketConfig {
  prefix: string;
  dryRun: boolean;
  concurrency: number;
  /** Above it a file goes multipart. */
  threshold: number;
  /** Up to this size a file is read once into memory; above it, hashed first and then streamed. */
  bufferedMax: number;
  partSize: number;
  partConcurrency: number;
  budgetBytes: number;
  syncReadMax: number;
  maxChange: number;
  /** Bytes per second; 0 = no limit. */
  bandwidthLimit: number;
  exclude: KeyMatcher | undefined;
}

function toBucketConfig(options: SyncToBucketOptions): Omit<ToBucketConfig, 'exclude'> {
  const concurrency = positiveInt(
    'concurrency',
    options.concurrency,
    defaultConcurrency(),
    1,
    1024,
  );
  const threshold = positiveInt(
    'multipartThreshold',
    options.multipartThreshold,
    200 * MiB,
    5 * MiB,
    5 * 1024 * MiB,
  );
  return {
    prefix: normalizePrefix(options.prefix),
    dryRun: options.dryRun ?? false,
    concurrency,
    threshold,
    bufferedMax: Math.min(threshold, 8 * MiB),
    partSize: positiveInt('partSize', options.partSize, 16 * MiB, 5 * MiB, 5 * 1024 * MiB),
    partConcurrency: positiveInt('partConcurrency', options.partConcurrency, 4, 1, 64),
    budgetBytes: positiveInt('memoryBudget', options.memoryBudget, 192 * MiB, 16 * MiB),
    syncReadMax: positiveInt('syncReadMax', options.syncReadMax, MiB, 0, 64 * MiB),
    maxChange: positiveInt('maxChangeRetries', options.maxChangeRetries, 5, 0, 100),
    bandwidthLimit: positiveInt('bandwidthLimit', options.bandwidthLimit, 0, 0, 2 ** 50),
  };
}

async function assertRootDirectory(root: string): Promise<void> {
  let rootStat;
  try {
    rootStat = await fsp.stat(root);
  } catch (error) {
    throw new SyncConfigError(`storage root ${root} is not accessible: ${errorText(error)}`);
  }
  if (!rootStat.isDirectory()) throw new SyncConfigError(`storage root ${root} is not a directory`);
}

/** A walked file on its way through the stages. */
interface FileJob {
  rel: string;
  abs: string;
  key: string;
  stat: fs.BigIntStats;
  /** Its place in the journal's walk-ordered files list. */
  slot: number | undefined;
}

/**
 * Copies a directory tree into a bucket: streamed walk merge-joined with a streamed listing,
 * identical files skipped without any request, the rest uploaded with Content-MD5 and verified
 * ETags, resumable through a journal. Returns the report; throws SyncConfigError before any write
 * when the target is unusable, SyncFailedError after the run when files failed.
 */
export async function syncToBucket(options: SyncToBucketOptions): Promise<SyncReport> {
  const started = Date.now();
  const cfg = toBucketConfig(options);
  await assertRootDirectory(options.root);
  const exclude = compileExcludes(options.exclude);
  return new ToBucketSync(options, { ...cfg, exclude }).run(started);
}

/**
 * One copy of a tree into a bucket, as a pipeline whose methods are its stages (after rclone's
 * fs/sync): `walk` merge-joins the tree with the listing and the journal (march.ts), `decide`
 * (decide.ts) says per file skip / verify / upload, `transfer` uploads through the Uploader
 * (upload.ts) and re-reads a file that changed, and `finish` reports the extra objects, aborts
 * orphan multipart uploads and swaps in the journal.
 */
export class ToBucketSync extends CopyRun {
  private readonly destination: string;
  private state: SyncState | undefined;
  private uploader!: Uploader;
  private resumable = new Set<string>();
  private tree!: RunWalk;

  constructor(
    private readonly options: SyncToBucketOptions,
    private readonly cfg: ToBucketConfig,
  ) {
    const destination = `s3://${options.target.bucket}/${cfg.prefix}`;
    super(
      options,
      cfg.concurrency,
      8,
      emptyReport('sync-to-bucket', options.mode ?? 'bulk', cfg.dryRun, options.root, destination),
    );
    this.destination = destination;
  }

  async run(started = Date.now()): Promise<SyncReport> {
    const { transport } = this;
    try {
      await preflight(transport, this.options.target.region);
      let base;
      if (this.options.stateDir && !this.cfg.dryRun) {
        const { bucket } = this.options.target;
        const id = SyncState.targetId(transport.endpointUrl.origin, bucket, this.cfg.prefix);
        base = await this.deltaBase(this.options.stateDir, id);
        this.state = await SyncState.open(this.options.stateDir, id, base?.watermark !== undefined);
      }
      this.tree = await runWalk({
        ...this.options,
        base,
        state: this.state,
        unchanged: {
          keyOf: (rel) => joinKey(this.cfg.prefix, rel),
          count: (size) => this.countUnchanged(size),
        },
        exclude: this.cfg.exclude,
      });
      this.uploader = new Uploader(transport, this.state, {
        ...this.cfg,
        hooks: this.options.hooks,
      });
      this.resumable = new Set(this.state?.mpus.keys() ?? []);
      const cursor = new ListingCursor(listParallelPages(transport, this.cfg.prefix));
      const complete = await this.walk(cursor);
      await this.finish(cursor, complete);
    } finally {
      if (this.state) await this.state.close(false).catch(() => undefined);
      this.close();
    }
    return this.result(
      started,
      `file(s) could not be copied to ${this.destination}`,
      this.options.throwOnFailure,
    );
  }

  /** A delta's base: the last complete run, if this one may prune from it (delta-prune.ts). */
  private async deltaBase(stateDir: string, id: string): Promise<DeltaBase | undefined> {
    if (this.options.mode !== 'delta') return undefined;
    const watermark = await SyncState.readWatermark(stateDir, id);
    return deltaBase(
      this.options.root,
      watermark,
      this.options.exclude ?? [],
      this.options.delta ?? {},
    );
  }

  /**
   * Stage 1: the walk, merge-joined with the listing and the journal; every file goes through
   * `decide` to a task of the pool (which holds the walk back when it is full). False when aborted.
   */
  private async walk(cursor: ListingCursor): Promise<boolean> {
    const keyOf = (e: WalkEntry): string | undefined => {
      if (e.kind !== 'file') return undefined;
      const key = joinKey(this.cfg.prefix, e.rel);
      return Buffer.byteLength(key) > MAX_S3_KEY_BYTES ? undefined : key;
    };
    const { tree, pruned, recorder } = this.tree;
    // A pruned delta lists no bucket: the journal says what the last complete copy put there.
    const items = pruned ? journalMarch(tree, keyOf, this.state!) : march(tree, keyOf, cursor);
    for await (const { item: entry, key, object } of items) {
      if (this.options.signal?.aborted) return false;
      recorder?.see(entry);
      if (entry.kind !== 'file' || key === undefined) {
        this.unmatched(entry);
        continue;
      }
      const size = Number(entry.stat.size);
      this.report.counts.files++;
      this.report.bytes.total += size;
      this.ticker.filesSeen++;
      this.ticker.bytesSeen += size;
      const record = this.state ? await this.state.lookup(key) : undefined;
      // A pruned run's files list is not kept: no slots.
      const job: FileJob = { ...entry, key, slot: pruned ? undefined : this.state?.reserveSlot() };
      const decision = decide(entry.stat, object, record);
      if (decision === 'skip') {
        this.skip(job, record!);
        continue;
      }
      if (decision === 'upload') this.resumable.delete(key);
      // The task opens the file through its directory after the walk moved on: hold it.
      const dir = entry.dir.retain();
      await this.pool.run(() =>
        (decision === 'verify' ? this.verifyByRead(job, object!.etag) : this.transfer(job)).finally(
          () => dir.release(),
        ),
      );
    }
    return true;
  }

  /** What the walk yields that is not a file to copy. */
  private unmatched(entry: WalkEntry): void {
    const { report } = this;
    if (entry.kind === 'excluded') report.counts.excluded++;
    else if (entry.kind === 'empty-dir') {
      report.counts.emptyDirs++;
      pushCapped(report, report.emptyDirs, entry.rel);
    } else if (entry.kind === 'unsupported')
      this.unsupported(entry.rel, entry.reason, entry.detail);
    else
      this.unsupported(entry.rel, 'key-too-long', `S3 keys are at most ${MAX_S3_KEY_BYTES} bytes`);
  }

  private unsupported(rel: string, reason: string, detail?: string): void {
    const { report } = this;
    report.counts.unsupported++;
    report.unsupportedByReason[reason] = (report.unsupportedByReason[reason] ?? 0) + 1;
    pushCapped(report, report.unsupported, { path: rel, reason, ...(detail ? { detail } : {}) });
  }

  private failed(job: FileJob, error: unknown): void {
    this.report.counts.failed++;
    pushCapped(this.report, this.report.failures, {
      path: job.rel,
      key: job.key,
      error: errorText(error),
    });
  }

  private settle(slot: number | undefined, rec: FileRecord | null): void {
    if (slot !== undefined) this.state?.settleSlot(slot, rec);
  }

  /** The object is this file's copy: counted, its record carried into the next files list. */
  /** A file a pruned delta's walk proved unchanged by the journal (see delta-prune.ts). */
  private countUnchanged(size: number): void {
    const { report, ticker } = this;
    report.counts.files++;
    report.counts.skipped++;
    report.bytes.total += size;
    report.bytes.skipped += size;
    ticker.filesSeen++;
    ticker.filesDone++;
    ticker.bytesSeen += size;
    ticker.bytesDone += size;
  }

  private skip(job: FileJob, rec: FileRecord, verifiedByRead = false): void {
    const { report, ticker } = this;
    const size = Number(job.stat.size);
    report.counts.skipped++;
    if (verifiedByRead) report.counts.verifiedByRead++;
    report.bytes.skipped += size;
    ticker.filesDone++;
    ticker.bytesDone += size;
    if (!verifiedByRead) this.resumable.delete(job.key);
    // A multipart upload the killed run completed but could not record.
    if (!this.cfg.dryRun) {
      if (verifiedByRead) this.state?.recordDone(rec);
      this.state?.endMpu(job.key);
    }
    this.settle(job.slot, rec);
  }

  /** Stage 2b: same size, no journal record: read the file and compare its hash with the ETag. */
  private async verifyByRead(job: FileJob, etag: string): Promise<void> {
    const size = Number(job.stat.size);
    const multi = etag.includes('-');
    let hashes: FileHashes | undefined;
    const held = await this.uploader.budget.acquire(MiB);
    try {
      const r = await hashFile(
        job.abs,
        job.stat,
        multi ? partSizeFor(size, this.cfg.partSize) : undefined,
        Buffer.allocUnsafe(Math.min(MiB, Math.max(size, 1))),
      );
      if (!r.changed) hashes = r.hashes;
    } catch (error) {
      this.uploader.budget.release(held);
      this.settle(job.slot, null);
      this.ticker.filesDone++;
      const e = openError(error);
      if (e instanceof UnsupportedFileError) this.unsupported(job.rel, e.reason, e.message);
      else this.failed(job, e);
      return;
    }
    this.uploader.budget.release(held);
    if (hashes) {
      const md5hex = hashes.md5.toString('hex');
      if ((multi ? multipartEtag(hashes.partMd5s) : md5hex) === etag) {
        this.skip(job, fileRecord(job.key, job.stat, md5hex, hashes.sha256, etag), true);
        return;
      }
    }
    await this.transfer(job);
  }

  /** Stage 3: uploads (re-reading while the file changes), then records it. */
  private async transfer(job: FileJob): Promise<void> {
    try {
      await this.options.hooks?.beforeOpen?.(job.rel);
      let st = job.stat;
      for (let attempt = 0; ; attempt++) {
        if (this.cfg.dryRun) {
          this.copied(job, Number(st.size), null, false);
          return;
        }
        const next = await this.transferOnce(job, st);
        if (next === undefined) return;
        if (attempt >= this.cfg.maxChange) {
          throw new Error(`file kept changing while it was read (${attempt + 1} attempts)`);
        }
        this.report.counts.requeued++;
        await sleep(Math.min(2000, 50 * 2 ** attempt));
        st = await lstat(job.abs).catch(() => {
          throw new UnsupportedFileError('vanished', 'deleted while being copied');
        });
      }
    } catch (error) {
      this.settle(job.slot, null);
      const e = error instanceof ChangedDuringWalkError ? openError(error) : error;
      if (e instanceof UnsupportedFileError) this.unsupported(job.rel, e.reason, e.message);
      else this.failed(job, error);
    } finally {
      this.ticker.filesDone++;
    }
  }

  /** One upload of the file as `st` says it is: undefined when done, else the newer stat. */
  private async transferOnce(
    job: FileJob,
    st: fs.BigIntStats,
  ): Promise<fs.BigIntStats | undefined> {
    const { abs, key } = job;
    const size = Number(st.size);
    const multipart = size > this.cfg.threshold;
    const out: Outcome = multipart
      ? await this.uploader.multipart(abs, key, st)
      : size > this.cfg.bufferedMax
        ? await this.uploader.streamed(abs, key, st)
        : await this.uploader.small(abs, key, st);
    if (out.kind === 'done') {
      // Changed after it was read (during the upload)? Then this copy is stale: again.
      let post: fs.BigIntStats | undefined;
      try {
        post = size <= this.cfg.syncReadMax ? lstatSync(abs) : await lstat(abs);
      } catch {
        post = undefined;
      }
      if (post === undefined || sameVersion(st, post)) {
        this.state?.recordDone(out.record);
        if (multipart) this.state?.endMpu(key);
        this.copied(job, size, out.record, out.resumed);
        return undefined;
      }
      if (multipart) this.state?.endMpu(key);
      return post;
    }
    if (out.stat === undefined) throw new Error('file changed while it was read');
    if (!sameIdentity(st, out.stat)) {
      throw new ChangedDuringWalkError('replaced by another file after the walk saw it');
    }
    if (!out.stat.isFile()) throw new UnsupportedFileError('vanished', 'no longer a regular file');
    return out.stat;
  }

  private copied(job: FileJob, size: number, rec: FileRecord | null, resumed: boolean): void {
    const { report } = this;
    report.counts.copied++;
    report.bytes.copied += size;
    if (resumed) report.counts.resumedUploads++;
    if (rec) this.ticker.bytesDone += size;
    this.settle(job.slot, rec);
  }

  /** Stage 4: extra objects, orphan multipart uploads, the journal swapped in. */
  private async finish(cursor: ListingCursor, complete: boolean): Promise<void> {
    this.ticker.scanComplete = true;
    this.tree.recorder?.end();
    await this.pool.drain();
    await this.uploader.settled();
    const { pruned, startedAtMs, scan } = this.tree;
    if (complete && !pruned) {
      await cursor.finish();
      this.report.counts.extra = cursor.extraCount;
      this.report.extraSample = cursor.extraSample;
      // Multipart uploads of a killed run whose file is gone or excluded: nothing will resume them.
      for (const key of this.resumable) {
        const m = this.state?.mpus.get(key);
        if (m) await this.transport.abortMultipartUpload(key, m.uploadId).catch(() => undefined);
        this.state?.endMpu(key);
      }
    }
    await this.state?.close(complete && !pruned, {
      pruned,
      ...(complete && this.report.counts.failed === 0
        ? { watermark: { startedAtMs, exclude: [...(this.options.exclude ?? [])] } }
        : {}),
    });
    this.state = undefined;
    if (scan) this.report.delta = scan;
    if (!complete) throw new Error('sync aborted');
  }
}

function lstatSync(abs: string): fs.BigIntStats {
  return fsSync.lstatSync(abs, { bigint: true });
}
