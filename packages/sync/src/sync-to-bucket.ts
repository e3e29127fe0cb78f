import { createHash } from 'node:crypto';
import os from 'node:os';
import { promises as fsp } from 'node:fs';
import fs from 'node:fs';
import {
  CHANGED_DURING_WALK,
  ChangedDuringWalkError,
  assertSameFile,
  openEntrySync,
  sameIdentity,
} from '@dify-storage/common';
import { multipartEtag } from '@dify-storage/s3';
import { S3RequestError, SyncConfigError, errorText } from './errors.js';
import {
  BufferPool,
  ByteBudget,
  TaskPool,
  close,
  fstat,
  lstat,
  open,
  readFully,
  sameVersion,
} from './fileio.js';
import { compileExcludes } from './glob.js';
import { MiB, hashFile, partSizeFor, type FileHashes } from './hashing.js';
import { joinKey, normalizePrefix } from './keys.js';
import { ListingCursor, listParallel } from './listing.js';
import { defaultConcurrency, positiveInt, type BucketOptions } from './options.js';
import { preflight, validateRegion } from './preflight.js';
import {
  ProgressTicker,
  emptyReport,
  finishReport,
  returnOrThrow,
  pushCapped,
  type SyncReport,
} from './report.js';
import { SyncState, type FileRecord, type MpuRecord } from './state.js';
import { S3Transport } from './transport.js';
import { mtimeString, walkTree, type UnsupportedReason, type WalkHooks } from './walk.js';

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
  /** Globs of paths to leave out (see glob.ts). */
  exclude?: readonly string[];
  /**
   * Files larger than this go multipart (default 200 MiB, rclone's cutoff: below it one streamed
   * PUT costs one md5 pass less than parts do).
   */
  multipartThreshold?: number;
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

type Outcome =
  | { kind: 'done'; record: FileRecord; resumed: boolean }
  | { kind: 'changed'; stat: fs.BigIntStats | undefined };

class UnsupportedFileError extends Error {
  constructor(
    readonly reason: UnsupportedReason,
    message: string,
  ) {
    super(message);
  }
}

/** Small bodies are read into reused buffers of 16 KiB size classes (less malloc and GC). */
const SMALL_CLASS = 16 * 1024;
const MAX_S3_KEY_BYTES = 1024;
const SMALL_POOL_MAX = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Copies a directory tree into a bucket: streamed walk merge-joined with a streamed listing,
 * identical files skipped without any request, the rest uploaded with Content-MD5 and verified
 * ETags, resumable through a journal. Returns the report; throws SyncConfigError before any write
 * when the target is unusable, SyncFailedError after the run when files failed.
 */
export async function syncToBucket(options: SyncToBucketOptions): Promise<SyncReport> {
  const started = Date.now();
  const prefix = normalizePrefix(options.prefix);
  const dryRun = options.dryRun ?? false;
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
  // Up to this size a file is read once into memory; above it, hashed first and then streamed.
  const bufferedMax = Math.min(threshold, 8 * MiB);
  const partSize = positiveInt('partSize', options.partSize, 16 * MiB, 5 * MiB, 5 * 1024 * MiB);
  const partConcurrency = positiveInt('partConcurrency', options.partConcurrency, 4, 1, 64);
  const budgetBytes = positiveInt('memoryBudget', options.memoryBudget, 192 * MiB, 16 * MiB);
  const syncReadMax = positiveInt('syncReadMax', options.syncReadMax, MiB, 0, 64 * MiB);
  const maxChange = positiveInt('maxChangeRetries', options.maxChangeRetries, 5, 0, 100);
  let rootStat;
  try {
    rootStat = await fsp.stat(options.root);
  } catch (error) {
    throw new SyncConfigError(
      `storage root ${options.root} is not accessible: ${errorText(error)}`,
    );
  }
  if (!rootStat.isDirectory())
    throw new SyncConfigError(`storage root ${options.root} is not a directory`);
  validateRegion(options.target.region);
  const exclude = compileExcludes(options.exclude);
  const transport = new S3Transport(options.target, {
    maxSockets: concurrency + 8,
    ...options.transport,
  });
  const destination = `s3://${options.target.bucket}/${prefix}`;
  const report = emptyReport(
    'sync-to-bucket',
    options.mode ?? 'bulk',
    dryRun,
    options.root,
    destination,
  );
  let state: SyncState | undefined;
  const ticker = new ProgressTicker(report, options.onProgress, options.progressIntervalMs ?? 2000);
  try {
    await preflight(transport, options.target.region);
    if (options.stateDir && !dryRun) {
      state = await SyncState.open(
        options.stateDir,
        SyncState.targetId(transport.endpointUrl.origin, options.target.bucket, prefix),
      );
    }
    const cursor = new ListingCursor(listParallel(transport, prefix));
    const pool = new TaskPool(concurrency);
    const budget = new ByteBudget(budgetBytes);
    const partBuffers = new BufferPool(budgetBytes);
    const smallBuffers = new BufferPool(32 * MiB);
    // Whole-file hashing passes are CPU-bound: one per core, so that the files already hashed
    // upload while the next ones hash, instead of all hashing first and all uploading after.
    const hashSlots = new ByteBudget(Math.max(1, os.availableParallelism()));
    const hashWhole = async (
      abs: string,
      st: fs.BigIntStats,
      ps: number | undefined,
      withMd5 = true,
    ): ReturnType<typeof hashFile> => {
      await hashSlots.acquire(1);
      const held = await budget.acquire(MiB);
      try {
        return await hashFile(abs, st, ps, Buffer.allocUnsafe(MiB), withMd5);
      } catch (e) {
        throw openError(e);
      } finally {
        budget.release(held);
        hashSlots.release(1);
      }
    };
    const resumable = new Set(state?.mpus.keys() ?? []);
    let complete = true;

    const unsupported = (rel: string, reason: string, detail?: string): void => {
      report.counts.unsupported++;
      report.unsupportedByReason[reason] = (report.unsupportedByReason[reason] ?? 0) + 1;
      pushCapped(report, report.unsupported, { path: rel, reason, ...(detail ? { detail } : {}) });
    };
    const settle = (slot: number | undefined, rec: FileRecord | null): void => {
      if (slot !== undefined) state?.settleSlot(slot, rec);
    };

    // ---- uploads ----------------------------------------------------------------------------
    const uploadSmall = async (abs: string, key: string, st: fs.BigIntStats): Promise<Outcome> => {
      const size = Number(st.size);
      const held = await budget.acquire(size + 1);
      let record: FileRecord;
      const pooled = size < SMALL_POOL_MAX;
      const cap = pooled ? Math.ceil((size + 1) / SMALL_CLASS) * SMALL_CLASS : size + 1;
      const buf = pooled ? smallBuffers.take(cap) : Buffer.allocUnsafe(size + 1);
      try {
        let n: number;
        let after: fs.BigIntStats;
        if (size <= syncReadMax) {
          // Small files: blocking reads cost a quarter of the CPU of four threadpool round trips,
          // and CPU per file is what bounds a small-file copy.
          let fd: number;
          try {
            fd = openEntrySync(abs);
          } catch (error) {
            throw openError(error);
          }
          try {
            n = readFullySync(fd, buf, size + 1);
            after = fs.fstatSync(fd, { bigint: true });
          } finally {
            fs.closeSync(fd);
          }
        } else {
          let fd: number;
          try {
            fd = await open(abs);
          } catch (error) {
            throw openError(error);
          }
          try {
            n = await readFully(fd, buf, size + 1, 0);
            after = await fstat(fd);
          } finally {
            await close(fd);
          }
        }
        if (n !== size || !sameVersion(st, after)) return { kind: 'changed', stat: after };
        const body = buf.subarray(0, size);
        const md5 = createHash('md5').update(body).digest();
        const md5hex = md5.toString('hex');
        const sha = createHash('sha256').update(body).digest('hex');
        await options.hooks?.afterRead?.(key);
        const etag = await transport.putObject(key, body, md5, {
          mtime: mtimeString(st.mtimeNs),
          sha256: sha,
        });
        if (etag !== '' && etag !== md5hex) {
          throw new Error(`ETag ${etag} after PUT differs from the content md5 ${md5hex}`);
        }
        record = {
          k: key,
          s: size,
          m: st.mtimeNs.toString(),
          i: st.ino.toString(),
          md5: md5hex,
          sha,
          e: md5hex,
        };
      } finally {
        if (pooled) smallBuffers.give(buf);
        budget.release(held);
      }
      return { kind: 'done', record, resumed: false };
    };

    // Streamed PUTs carry the file's sha256 as the signed payload hash when the server verifies
    // it (probed once): one hash pass instead of md5 + sha256; the ETag is then the server's md5
    // of bytes it proved equal to ours.
    let sha256Probe: Promise<boolean> | undefined;
    const payloadShaVerified = (): Promise<boolean> =>
      (sha256Probe ??= transport.verifiesPayloadSha256(
        `${prefix}.dify-storage-probe-${Date.now().toString(36)}`,
      ));

    /** Mid-size files: hash in a first pass, then stream the PUT (memory: a read buffer). */
    const uploadStreamed = async (
      abs: string,
      key: string,
      st: fs.BigIntStats,
    ): Promise<Outcome> => {
      const size = Number(st.size);
      const shaOnly = await payloadShaVerified();
      const r = await hashWhole(abs, st, undefined, !shaOnly);
      if (r.changed) return { kind: 'changed', stat: r.stat };
      const hashes = r.hashes;
      await options.hooks?.afterRead?.(key);
      let etag: string;
      try {
        etag = await transport.putObjectStream(
          key,
          size,
          () =>
            fs.createReadStream('', {
              fd: openEntrySync(abs),
              start: 0,
              end: Math.max(0, size - 1),
              highWaterMark: MiB,
            }),
          shaOnly ? { sha256: hashes.sha256 } : { md5: hashes.md5 },
          { mtime: mtimeString(st.mtimeNs), sha256: hashes.sha256 },
        );
      } catch (error) {
        // The bytes sent no longer match the hash of the first pass: the file changed.
        if (
          error instanceof S3RequestError &&
          ['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch'].includes(error.code)
        ) {
          return { kind: 'changed', stat: await lstat(abs).catch(() => undefined) };
        }
        throw error;
      }
      const md5hex = shaOnly ? etag : hashes.md5.toString('hex');
      if (!/^[0-9a-f]{32}$/.test(etag) || etag !== md5hex) {
        throw new Error(
          `ETag "${etag}" after PUT is not the content md5${shaOnly ? '' : ` ${md5hex}`}`,
        );
      }
      const record: FileRecord = {
        k: key,
        s: size,
        m: st.mtimeNs.toString(),
        i: st.ino.toString(),
        md5: md5hex,
        sha: hashes.sha256,
        e: md5hex,
      };
      return { kind: 'done', record, resumed: false };
    };

    const uploadMultipart = async (
      abs: string,
      key: string,
      st: fs.BigIntStats,
    ): Promise<Outcome> => {
      const size = Number(st.size);
      const ps = partSizeFor(size, partSize);
      const nParts = Math.ceil(size / ps);
      const stored = state?.mpus.get(key);
      let mpu: MpuRecord | undefined;
      const doneParts = new Map<number, string>();
      let resumed = false;
      if (
        stored &&
        stored.s === size &&
        stored.m === st.mtimeNs.toString() &&
        stored.i === st.ino.toString() &&
        stored.ps === ps
      ) {
        const parts = await transport.listParts(key, stored.u);
        if (parts) {
          mpu = stored;
          resumed = true;
          for (const p of parts) {
            const want = stored.pm[p.partNumber - 1];
            const len = Math.min(ps, size - (p.partNumber - 1) * ps);
            if (want && p.etag === want && p.size === len) doneParts.set(p.partNumber, p.etag);
          }
        }
      }
      if (!mpu) {
        if (stored) {
          await transport.abortMultipartUpload(key, stored.u).catch(() => undefined);
          state?.endMpu(key);
        }
        const r = await hashWhole(abs, st, ps);
        if (r.changed) return { kind: 'changed', stat: r.stat };
        const hashes = r.hashes;
        const md5hex = hashes.md5.toString('hex');
        const uploadId = await transport.createMultipartUpload(key, {
          mtime: mtimeString(st.mtimeNs),
          sha256: hashes.sha256,
          md5chksum: hashes.md5.toString('base64'),
        });
        mpu = {
          k: key,
          u: uploadId,
          s: size,
          m: st.mtimeNs.toString(),
          i: st.ino.toString(),
          ps,
          md5: md5hex,
          sha: hashes.sha256,
          pm: hashes.partMd5s.map((b) => b.toString('hex')),
        };
        if (state) state.recordMpu(mpu);
      }
      const m = mpu;
      const expected = multipartEtag(m.pm.map((h) => Buffer.from(h, 'hex')));
      let changed = false;
      const fd = await open(abs).catch((e: unknown) => {
        throw openError(e);
      });
      try {
        // The parts leave before the final fstat: check first that this is the file walked.
        assertSameFile(st, await fstat(fd), key);
        let nextPart = 1;
        const worker = async (): Promise<void> => {
          while (!changed) {
            const n = nextPart++;
            if (n > nParts) return;
            if (doneParts.has(n)) continue;
            const len = Math.min(ps, size - (n - 1) * ps);
            const held = await budget.acquire(len);
            const buf = partBuffers.take(len);
            try {
              const got = await readFully(fd, buf, len, (n - 1) * ps);
              if (got !== len) {
                changed = true;
                return;
              }
              let etag: string;
              try {
                etag = await transport.uploadPart(
                  key,
                  m.u,
                  n,
                  buf,
                  Buffer.from(m.pm[n - 1]!, 'hex'),
                );
              } catch (error) {
                // The bytes no longer match the md5 taken in the first pass: the file changed.
                if (
                  error instanceof S3RequestError &&
                  (error.code === 'BadDigest' || error.code === 'InvalidDigest')
                ) {
                  changed = true;
                  return;
                }
                throw error;
              }
              if (etag !== '' && etag !== m.pm[n - 1])
                throw new Error(`part ${n}: ETag ${etag} differs from its md5 ${m.pm[n - 1]}`);
              doneParts.set(n, m.pm[n - 1]!);
            } finally {
              partBuffers.give(buf);
              budget.release(held);
            }
            await options.hooks?.afterPart?.(key, n);
          }
        };
        await Promise.all(Array.from({ length: Math.min(partConcurrency, nParts) }, worker));
        const after = await fstat(fd);
        if (changed || !sameVersion(st, after)) {
          await transport.abortMultipartUpload(key, m.u).catch(() => undefined);
          state?.endMpu(key);
          return { kind: 'changed', stat: after };
        }
      } catch (error) {
        if (!(error instanceof S3RequestError) || !error.retryable) {
          // Nothing to resume from a non-transient failure; a transient one keeps its parts.
          await transport.abortMultipartUpload(key, m.u).catch(() => undefined);
          state?.endMpu(key);
        }
        throw error;
      } finally {
        await close(fd);
      }
      const parts = Array.from({ length: nParts }, (_, i) => ({
        partNumber: i + 1,
        etag: m.pm[i]!,
      }));
      let etag: string;
      try {
        etag = await transport.completeMultipartUpload(key, m.u, parts);
      } catch (error) {
        // A retried Complete whose first attempt went through finds no upload any more.
        if (!(error instanceof S3RequestError) || error.code !== 'NoSuchUpload') throw error;
        etag = '';
      }
      if (etag === '') {
        // RGW 16 answers an empty ETag: read it back.
        const head = await transport.headObject(key);
        if (!head) throw new Error('object missing after CompleteMultipartUpload');
        if (head.size !== size)
          throw new Error(`size ${head.size} after CompleteMultipartUpload, expected ${size}`);
        etag = head.etag;
      }
      if (etag !== expected)
        throw new Error(`ETag ${etag} after CompleteMultipartUpload, expected ${expected}`);
      const record: FileRecord = {
        k: key,
        s: size,
        m: m.m,
        i: m.i,
        md5: m.md5,
        sha: m.sha,
        e: expected,
      };
      return { kind: 'done', record, resumed };
    };

    /** Uploads (re-reading while the file changes), then records it. */
    const upload = async (
      rel: string,
      abs: string,
      key: string,
      first: fs.BigIntStats,
      slot: number | undefined,
    ): Promise<void> => {
      let st = first;
      try {
        await options.hooks?.beforeOpen?.(rel);
        for (let attempt = 0; ; attempt++) {
          if (dryRun) {
            report.counts.copied++;
            report.bytes.copied += Number(st.size);
            settle(slot, null);
            return;
          }
          const size = Number(st.size);
          const out =
            size > threshold
              ? await uploadMultipart(abs, key, st)
              : size > bufferedMax
                ? await uploadStreamed(abs, key, st)
                : await uploadSmall(abs, key, st);
          if (out.kind === 'done') {
            // Changed after it was read (during the upload)? Then this copy is stale: again.
            let post: fs.BigIntStats | undefined;
            try {
              post = size <= syncReadMax ? fs.lstatSync(abs, { bigint: true }) : await lstat(abs);
            } catch {
              post = undefined;
            }
            if (post === undefined || sameVersion(st, post)) {
              state?.recordDone(out.record);
              if (size > threshold) state?.endMpu(key);
              report.counts.copied++;
              report.bytes.copied += size;
              if (out.resumed) report.counts.resumedUploads++;
              ticker.bytesDone += size;
              settle(slot, out.record);
              return;
            }
            if (size > threshold) state?.endMpu(key);
            st = post;
          } else {
            if (out.stat === undefined) throw new Error('file changed while it was read');
            if (!sameIdentity(st, out.stat)) {
              throw new ChangedDuringWalkError('replaced by another file after the walk saw it');
            }
            st = out.stat;
            if (!st.isFile())
              throw new UnsupportedFileError('vanished', 'no longer a regular file');
          }
          if (attempt >= maxChange) {
            throw new Error(`file kept changing while it was read (${attempt + 1} attempts)`);
          }
          report.counts.requeued++;
          await sleep(Math.min(2000, 50 * 2 ** attempt));
          st = await lstat(abs).catch(() => {
            throw new UnsupportedFileError('vanished', 'deleted while being copied');
          });
        }
      } catch (error) {
        settle(slot, null);
        const e = error instanceof ChangedDuringWalkError ? openError(error) : error;
        if (e instanceof UnsupportedFileError) {
          unsupported(rel, e.reason, e.message);
          return;
        }
        report.counts.failed++;
        pushCapped(report, report.failures, { path: rel, key, error: errorText(error) });
      } finally {
        ticker.filesDone++;
      }
    };

    /** Same size, no journal record: read the file and compare its hash with the ETag. */
    const checkThenUpload = async (
      rel: string,
      abs: string,
      key: string,
      st: fs.BigIntStats,
      etag: string,
      slot: number | undefined,
    ): Promise<void> => {
      const size = Number(st.size);
      const multi = etag.includes('-');
      const ps = partSizeFor(size, partSize);
      let hashes: FileHashes | undefined;
      const held = await budget.acquire(MiB);
      try {
        const r = await hashFile(
          abs,
          st,
          multi ? ps : undefined,
          Buffer.allocUnsafe(Math.min(MiB, Math.max(size, 1))),
        );
        if (!r.changed) hashes = r.hashes;
      } catch (error) {
        budget.release(held);
        settle(slot, null);
        ticker.filesDone++;
        const e = openError(error);
        if (e instanceof UnsupportedFileError) unsupported(rel, e.reason, e.message);
        else {
          report.counts.failed++;
          pushCapped(report, report.failures, { path: rel, key, error: errorText(e) });
        }
        return;
      }
      budget.release(held);
      if (hashes) {
        const md5hex = hashes.md5.toString('hex');
        const mine = multi ? multipartEtag(hashes.partMd5s) : md5hex;
        if (mine === etag) {
          report.counts.skipped++;
          report.counts.verifiedByRead++;
          report.bytes.skipped += size;
          ticker.filesDone++;
          ticker.bytesDone += size;
          const rec = {
            k: key,
            s: size,
            m: st.mtimeNs.toString(),
            i: st.ino.toString(),
            md5: md5hex,
            sha: hashes.sha256,
            e: etag,
          };
          if (!dryRun) {
            state?.recordDone(rec);
            // A multipart upload the killed run completed but could not record.
            state?.endMpu(key);
          }
          settle(slot, rec);
          return;
        }
      }
      await upload(rel, abs, key, st, slot);
    };

    // ---- the walk, merge-joined with the listing and the journal -------------------------------
    for await (const entry of walkTree(options.root, exclude, options.hooks)) {
      if (options.signal?.aborted) {
        complete = false;
        break;
      }
      if (entry.kind === 'excluded') {
        report.counts.excluded++;
        continue;
      }
      if (entry.kind === 'empty-dir') {
        report.counts.emptyDirs++;
        pushCapped(report, report.emptyDirs, entry.rel);
        continue;
      }
      if (entry.kind === 'unsupported') {
        unsupported(entry.rel, entry.reason, entry.detail);
        continue;
      }
      const st = entry.stat;
      const size = Number(st.size);
      report.counts.files++;
      report.bytes.total += size;
      ticker.filesSeen++;
      ticker.bytesSeen += size;
      const key = joinKey(prefix, entry.rel);
      if (Buffer.byteLength(key) > MAX_S3_KEY_BYTES) {
        report.counts.files--;
        report.bytes.total -= size;
        ticker.filesSeen--;
        ticker.bytesSeen -= size;
        unsupported(entry.rel, 'key-too-long', `S3 keys are at most ${MAX_S3_KEY_BYTES} bytes`);
        continue;
      }
      const obj = await cursor.seek(key);
      const rec = state ? await state.lookup(key) : undefined;
      const slot = state?.reserveSlot();
      if (obj && obj.size === size) {
        if (
          rec &&
          rec.s === size &&
          rec.e === obj.etag &&
          rec.m === st.mtimeNs.toString() &&
          rec.i === st.ino.toString()
        ) {
          report.counts.skipped++;
          report.bytes.skipped += size;
          ticker.filesDone++;
          ticker.bytesDone += size;
          resumable.delete(key);
          state?.endMpu(key);
          settle(slot, rec);
          continue;
        }
        // The task opens the file through its directory after the walk moved on: hold it.
        const dir = entry.dir.retain();
        await pool.run(() =>
          checkThenUpload(entry.rel, entry.abs, key, st, obj.etag, slot).finally(() =>
            dir.release(),
          ),
        );
      } else {
        resumable.delete(key);
        const dir = entry.dir.retain();
        await pool.run(() =>
          upload(entry.rel, entry.abs, key, st, slot).finally(() => dir.release()),
        );
      }
    }
    ticker.scanComplete = true;
    await pool.drain();
    if (complete) {
      await cursor.finish();
      report.counts.extra = cursor.extraCount;
      report.extraSample = cursor.extraSample;
      // Multipart uploads of a killed run whose file is gone or excluded: nothing will resume them.
      for (const key of resumable) {
        const m = state?.mpus.get(key);
        if (m) await transport.abortMultipartUpload(key, m.u).catch(() => undefined);
        state?.endMpu(key);
      }
    }
    await state?.close(complete);
    state = undefined;
    if (!complete) throw new Error('sync aborted');
  } finally {
    ticker.stop();
    if (state) await state.close(false).catch(() => undefined);
    report.requests = { ...transport.counts };
    report.retries = transport.retries;
    transport.close();
  }
  finishReport(report, started);
  return returnOrThrow(
    report,
    `file(s) could not be copied to ${destination}`,
    options.throwOnFailure,
  );
}

function readFullySync(fd: number, buf: Buffer, length: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function openError(error: unknown): Error {
  if (error instanceof ChangedDuringWalkError) {
    return new UnsupportedFileError(CHANGED_DURING_WALK, error.message);
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM')
    return new UnsupportedFileError('unreadable', errorText(error));
  if (code === 'ENOENT') return new UnsupportedFileError('vanished', 'deleted while being copied');
  return error instanceof Error ? error : new Error(String(error));
}
