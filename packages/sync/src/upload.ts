import { createHash } from 'node:crypto';
import os from 'node:os';
import fs from 'node:fs';
import {
  CHANGED_DURING_WALK,
  ChangedDuringWalkError,
  assertSameFile,
  openEntrySync,
} from '@dify-storage/common';
import { multipartEtag } from '@dify-storage/s3';
import { S3RequestError, errorText } from './errors.js';
import {
  BufferPool,
  ByteBudget,
  RateLimiter,
  close,
  fstat,
  lstat,
  open,
  readFully,
  sameVersion,
} from './fileio.js';
import { MiB, hashFile, partSizeFor } from './hashing.js';
import { recordOfFile, type FileRecord, type MpuRecord, type SyncState } from './state.js';
import type { S3Transport } from './transport.js';
import { mtimeString, type UnsupportedReason } from './walk.js';

/** What one upload attempt of a file came to. */
export type Outcome =
  | { kind: 'done'; record: FileRecord; resumed: boolean }
  | { kind: 'changed'; stat: fs.BigIntStats | undefined };

/** A file the copy reports as unsupported (vanished, unreadable, replaced), not as failed. */
export class UnsupportedFileError extends Error {
  constructor(
    readonly reason: UnsupportedReason,
    message: string,
  ) {
    super(message);
  }
}

export function openError(error: unknown): Error {
  if (error instanceof ChangedDuringWalkError) {
    return new UnsupportedFileError(CHANGED_DURING_WALK, error.message);
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM')
    return new UnsupportedFileError('unreadable', errorText(error));
  if (code === 'ENOENT') return new UnsupportedFileError('vanished', 'deleted while being copied');
  return error instanceof Error ? error : new Error(String(error));
}

export interface UploaderConfig {
  /** Bytes of file content held in memory at once. */
  budgetBytes: number;
  /** Files up to this size are read with blocking calls. */
  syncReadMax: number;
  partSize: number;
  partConcurrency: number;
  /** Bytes per second of all uploads together; 0 = no limit. */
  bandwidthLimit: number;
  /** Key prefix: where the payload-hash probe object goes. */
  prefix: string;
  hooks:
    | {
        afterRead?: (key: string) => void | Promise<void>;
        afterPart?: (key: string, partNumber: number) => void | Promise<void>;
      }
    | undefined;
}

/** Small bodies are read into reused buffers of 16 KiB size classes (less malloc and GC). */
const SMALL_CLASS = 16 * 1024;
const SMALL_POOL_MAX = 1024 * 1024;
/** Small uploads before the payload-hash probe: it costs a request, worth it for a bulk copy. */
const SMALL_PROBE_AFTER = 32;
const MD5_HEX = /^[0-9a-f]{32}$/;

/** A multipart upload to (re)send: its record and the parts already on the server. */
interface MpuPlan {
  m: MpuRecord;
  doneParts: Map<number, string>;
  resumed: boolean;
}

/**
 * The transfer stage of the copy to a bucket: one file to one object, by size — a buffered PUT
 * (small), a hashed-then-streamed PUT (mid-size) or a resumable multipart upload (large). Each
 * verifies the ETag the server answers against the bytes read, and reports a file that changed
 * while it was read as `changed` rather than uploading a mix of versions.
 */
export class Uploader {
  readonly budget: ByteBudget;
  private readonly partBuffers: BufferPool;
  private readonly smallBuffers = new BufferPool(32 * MiB);
  private readonly limiter: RateLimiter | undefined;
  // Whole-file hashing passes are CPU-bound: one per core, so that the files already hashed
  // upload while the next ones hash, instead of all hashing first and all uploading after.
  private readonly hashSlots = new ByteBudget(Math.max(1, os.availableParallelism()));
  private sha256Probe: Promise<boolean> | undefined;
  private smallUploads = 0;
  private smallShaOnly = false;

  constructor(
    private readonly transport: S3Transport,
    private readonly state: SyncState | undefined,
    private readonly cfg: UploaderConfig,
  ) {
    this.budget = new ByteBudget(cfg.budgetBytes);
    this.partBuffers = new BufferPool(cfg.budgetBytes);
    this.limiter = cfg.bandwidthLimit > 0 ? new RateLimiter(cfg.bandwidthLimit) : undefined;
  }

  /** md5, sha256 (and part md5s with `ps`) of a whole file, one read pass per core at a time. */
  async hashWhole(
    abs: string,
    st: fs.BigIntStats,
    ps: number | undefined,
    withMd5 = true,
  ): ReturnType<typeof hashFile> {
    await this.hashSlots.acquire(1);
    const held = await this.budget.acquire(MiB);
    try {
      return await hashFile(abs, st, ps, Buffer.allocUnsafe(MiB), withMd5);
    } catch (e) {
      throw openError(e);
    } finally {
      this.budget.release(held);
      this.hashSlots.release(1);
    }
  }

  /** Reads `size + 1` bytes at most (one more tells a file that grew) and stats the open file. */
  private async readSmall(
    abs: string,
    buf: Buffer,
    size: number,
  ): Promise<{ n: number; after: fs.BigIntStats }> {
    if (size <= this.cfg.syncReadMax) {
      // Small files: blocking reads cost a quarter of the CPU of four threadpool round trips,
      // and CPU per file is what bounds a small-file copy.
      let fd: number;
      try {
        fd = openEntrySync(abs);
      } catch (error) {
        throw openError(error);
      }
      try {
        return { n: readFullySync(fd, buf, size + 1), after: fs.fstatSync(fd, { bigint: true }) };
      } finally {
        fs.closeSync(fd);
      }
    }
    const fd = await open(abs).catch((error: unknown) => {
      throw openError(error);
    });
    try {
      return { n: await readFully(fd, buf, size + 1, 0), after: await fstat(fd) };
    } finally {
      await close(fd);
    }
  }

  /**
   * Small files: read once into memory, one PUT. Its integrity goes as Content-MD5 until the
   * server is known to check a signed payload sha256; from then on the sha256 (needed anyway
   * for the metadata and the journal) is signed instead and the md5 pass is saved: the ETag is
   * then the server's md5 of bytes it proved equal to ours (md5 costs twice sha256's CPU).
   */
  async small(abs: string, key: string, st: fs.BigIntStats): Promise<Outcome> {
    const size = Number(st.size);
    const shaOnly = this.shaOnlyForSmall();
    const held = await this.budget.acquire(size + 1);
    const pooled = size < SMALL_POOL_MAX;
    const cap = pooled ? Math.ceil((size + 1) / SMALL_CLASS) * SMALL_CLASS : size + 1;
    const buf = pooled ? this.smallBuffers.take(cap) : Buffer.allocUnsafe(size + 1);
    try {
      const { n, after } = await this.readSmall(abs, buf, size);
      if (n !== size || !sameVersion(st, after)) return { kind: 'changed', stat: after };
      const body = buf.subarray(0, size);
      const localMd5 = (): Buffer => createHash('md5').update(body).digest();
      const md5 = shaOnly ? undefined : localMd5();
      const sha = createHash('sha256').update(body).digest('hex');
      await this.cfg.hooks?.afterRead?.(key);
      await this.limiter?.take(size);
      const etag = await this.transport.putObject(key, body, md5 ?? { sha256: sha }, {
        mtime: mtimeString(st.mtimeNs),
        sha256: sha,
      });
      const md5hex = md5 || !MD5_HEX.test(etag) ? (md5 ?? localMd5()).toString('hex') : etag;
      if (etag !== '' && etag !== md5hex) {
        throw new Error(`ETag ${etag} after PUT differs from the content md5 ${md5hex}`);
      }
      return { kind: 'done', record: fileRecord(key, st, md5hex, sha, md5hex), resumed: false };
    } finally {
      if (pooled) this.smallBuffers.give(buf);
      this.budget.release(held);
    }
  }

  /**
   * Whether small PUTs may rely on the signed sha256. The probe (one PUT, refused) starts at the
   * SMALL_PROBE_AFTER-th small upload, so that a run of a few files costs no extra request; until
   * it answers, Content-MD5 is used.
   */
  private shaOnlyForSmall(): boolean {
    if (++this.smallUploads === SMALL_PROBE_AFTER)
      void this.payloadShaVerified().then((v) => (this.smallShaOnly = v));
    return this.smallShaOnly;
  }

  /** Waits for the payload-hash probe, if one was started (it deletes what it wrote). */
  async settled(): Promise<void> {
    await this.sha256Probe;
  }

  // Streamed PUTs carry the file's sha256 as the signed payload hash when the server verifies
  // it (probed once): one hash pass instead of md5 + sha256; the ETag is then the server's md5
  // of bytes it proved equal to ours.
  private payloadShaVerified(): Promise<boolean> {
    return (this.sha256Probe ??= this.transport.verifiesPayloadSha256(
      `${this.cfg.prefix}.dify-storage-probe-${Date.now().toString(36)}`,
    ));
  }

  /** Mid-size files: hash in a first pass, then stream the PUT (memory: a read buffer). */
  async streamed(abs: string, key: string, st: fs.BigIntStats): Promise<Outcome> {
    const size = Number(st.size);
    const shaOnly = await this.payloadShaVerified();
    const r = await this.hashWhole(abs, st, undefined, !shaOnly);
    if (r.changed) return { kind: 'changed', stat: r.stat };
    const hashes = r.hashes;
    await this.cfg.hooks?.afterRead?.(key);
    await this.limiter?.take(size);
    let etag: string;
    try {
      etag = await this.transport.putObjectStream(
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
    if (!MD5_HEX.test(etag) || etag !== md5hex) {
      throw new Error(
        `ETag "${etag}" after PUT is not the content md5${shaOnly ? '' : ` ${md5hex}`}`,
      );
    }
    return {
      kind: 'done',
      record: fileRecord(key, st, md5hex, hashes.sha256, md5hex),
      resumed: false,
    };
  }

  /** Large files: a multipart upload, resumed from the journal when the file is the same. */
  async multipart(abs: string, key: string, st: fs.BigIntStats): Promise<Outcome> {
    const size = Number(st.size);
    const ps = partSizeFor(size, this.cfg.partSize);
    const plan = (await this.resumeMpu(key, st, ps)) ?? (await this.startMpu(abs, key, st, ps));
    if ('kind' in plan) return plan;
    const changed = await this.sendParts(abs, key, st, plan);
    if (changed) return changed;
    const etag = await this.completeMpu(key, plan.m, size);
    const m = plan.m;
    return {
      kind: 'done',
      record: {
        key,
        size,
        mtimeNs: m.mtimeNs,
        ino: m.ino,
        md5: m.md5,
        sha256: m.sha256,
        etag,
      },
      resumed: plan.resumed,
    };
  }

  /** The journal's upload of this very file (size, mtime, inode, part size), with its parts. */
  private async resumeMpu(
    key: string,
    st: fs.BigIntStats,
    ps: number,
  ): Promise<MpuPlan | undefined> {
    const size = Number(st.size);
    const stored = this.state?.mpus.get(key);
    if (!stored || !recordOfFile(stored, st) || stored.partSize !== ps) return undefined;
    const parts = await this.transport.listParts(key, stored.uploadId);
    if (!parts) return undefined;
    const doneParts = new Map<number, string>();
    for (const p of parts) {
      const want = stored.partMd5s[p.partNumber - 1];
      const len = Math.min(ps, size - (p.partNumber - 1) * ps);
      if (want && p.etag === want && p.size === len) doneParts.set(p.partNumber, p.etag);
    }
    return { m: stored, doneParts, resumed: true };
  }

  /** Hashes the file (whole and per part) and creates the upload, journaled before any part. */
  private async startMpu(
    abs: string,
    key: string,
    st: fs.BigIntStats,
    ps: number,
  ): Promise<MpuPlan | Outcome> {
    const stored = this.state?.mpus.get(key);
    if (stored) {
      await this.transport.abortMultipartUpload(key, stored.uploadId).catch(() => undefined);
      this.state?.endMpu(key);
    }
    const r = await this.hashWhole(abs, st, ps);
    if (r.changed) return { kind: 'changed', stat: r.stat };
    const hashes = r.hashes;
    const uploadId = await this.transport.createMultipartUpload(key, {
      mtime: mtimeString(st.mtimeNs),
      sha256: hashes.sha256,
      md5chksum: hashes.md5.toString('base64'),
    });
    const m: MpuRecord = {
      key,
      uploadId,
      size: Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      ino: st.ino.toString(),
      partSize: ps,
      md5: hashes.md5.toString('hex'),
      sha256: hashes.sha256,
      partMd5s: hashes.partMd5s.map((b) => b.toString('hex')),
    };
    this.state?.recordMpu(m);
    return { m, doneParts: new Map(), resumed: false };
  }

  /** Sends the missing parts; a `changed` outcome (upload aborted) if the file changed. */
  private async sendParts(
    abs: string,
    key: string,
    st: fs.BigIntStats,
    plan: MpuPlan,
  ): Promise<Outcome | undefined> {
    const { m } = plan;
    const nParts = Math.ceil(m.size / m.partSize);
    const fd = await open(abs).catch((e: unknown) => {
      throw openError(e);
    });
    try {
      // The parts leave before the final fstat: check first that this is the file walked.
      assertSameFile(st, await fstat(fd), key);
      const flag = { changed: false, next: 1 };
      const worker = (): Promise<void> => this.partWorker(fd, key, plan, flag);
      await Promise.all(Array.from({ length: Math.min(this.cfg.partConcurrency, nParts) }, worker));
      const after = await fstat(fd);
      if (flag.changed || !sameVersion(st, after)) {
        await this.abortMpu(key, m);
        return { kind: 'changed', stat: after };
      }
      return undefined;
    } catch (error) {
      // Nothing to resume from a non-transient failure; a transient one keeps its parts.
      if (!(error instanceof S3RequestError) || !error.retryable) await this.abortMpu(key, m);
      throw error;
    } finally {
      await close(fd);
    }
  }

  private async abortMpu(key: string, m: MpuRecord): Promise<void> {
    await this.transport.abortMultipartUpload(key, m.uploadId).catch(() => undefined);
    this.state?.endMpu(key);
  }

  /** Takes the next part number until none is left (or the file changed) and uploads it. */
  private async partWorker(
    fd: number,
    key: string,
    { m, doneParts }: MpuPlan,
    flag: { changed: boolean; next: number },
  ): Promise<void> {
    const nParts = Math.ceil(m.size / m.partSize);
    while (!flag.changed) {
      const n = flag.next++;
      if (n > nParts) return;
      if (doneParts.has(n)) continue;
      const len = Math.min(m.partSize, m.size - (n - 1) * m.partSize);
      const held = await this.budget.acquire(len);
      const buf = this.partBuffers.take(len);
      try {
        const got = await readFully(fd, buf, len, (n - 1) * m.partSize);
        if (got !== len || !(await this.sendPart(key, m, n, buf))) {
          flag.changed = true;
          return;
        }
        doneParts.set(n, m.partMd5s[n - 1]!);
      } finally {
        this.partBuffers.give(buf);
        this.budget.release(held);
      }
      await this.cfg.hooks?.afterPart?.(key, n);
    }
  }

  /** One part with its md5 from the first pass; false when the server saw other bytes. */
  private async sendPart(key: string, m: MpuRecord, n: number, buf: Buffer): Promise<boolean> {
    await this.limiter?.take(buf.length);
    let etag: string;
    try {
      etag = await this.transport.uploadPart(
        key,
        m.uploadId,
        n,
        buf,
        Buffer.from(m.partMd5s[n - 1]!, 'hex'),
      );
    } catch (error) {
      // The bytes no longer match the md5 taken in the first pass: the file changed.
      if (
        error instanceof S3RequestError &&
        (error.code === 'BadDigest' || error.code === 'InvalidDigest')
      )
        return false;
      throw error;
    }
    if (etag !== '' && etag !== m.partMd5s[n - 1])
      throw new Error(`part ${n}: ETag ${etag} differs from its md5 ${m.partMd5s[n - 1]}`);
    return true;
  }

  /** Completes the upload and proves the object's ETag is the md5 of the parts sent. */
  private async completeMpu(key: string, m: MpuRecord, size: number): Promise<string> {
    const expected = multipartEtag(m.partMd5s.map((h) => Buffer.from(h, 'hex')));
    const parts = m.partMd5s.map((etag, i) => ({ partNumber: i + 1, etag }));
    let etag: string;
    try {
      etag = await this.transport.completeMultipartUpload(key, m.uploadId, parts);
    } catch (error) {
      // A retried Complete whose first attempt went through finds no upload any more.
      if (!(error instanceof S3RequestError) || error.code !== 'NoSuchUpload') throw error;
      etag = '';
    }
    if (etag === '') {
      // RGW 16 answers an empty ETag: read it back.
      const head = await this.transport.headObject(key);
      if (!head) throw new Error('object missing after CompleteMultipartUpload');
      if (head.size !== size)
        throw new Error(`size ${head.size} after CompleteMultipartUpload, expected ${size}`);
      etag = head.etag;
    }
    if (etag !== expected)
      throw new Error(`ETag ${etag} after CompleteMultipartUpload, expected ${expected}`);
    return expected;
  }
}

export function fileRecord(
  key: string,
  st: fs.BigIntStats,
  md5: string,
  sha: string,
  etag: string,
): FileRecord {
  return {
    key,
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ino: st.ino.toString(),
    md5,
    sha256: sha,
    etag,
  };
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
