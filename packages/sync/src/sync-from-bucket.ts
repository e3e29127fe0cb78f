import { createHash, hash, randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import { FILE_OPEN_FLAGS, type DirHandle } from '@dify-storage/common';
import path from 'node:path';
import { SyncConfigError, errorText } from './errors.js';
import { CopyRun } from './copy-run.js';
import { TaskPool } from './fileio.js';
import { compileExcludes, excludesKey, type KeyMatcher } from './glob.js';
import { normalizePrefix, unsafeKeyReason } from './keys.js';
import { listKeyRanges } from './key-ranges.js';
import {
  ManifestJoin,
  ManifestOrderError,
  type ManifestRecord,
  type ManifestSource,
} from './manifest.js';
import { positiveInt, type BucketOptions } from './options.js';
import { preflight } from './preflight.js';
import { emptyReport, pushCapped, type SyncReport } from './report.js';
import type { HeadInfo, ObjectInfo } from './transport.js';
import { SyncState, type MergedRecordReader } from './state.js';
import { RefusedError, TreeDirs, splitRel } from './tree-dirs.js';
import { parseMtime } from './walk.js';

export interface SyncFromBucketOptions extends BucketOptions {
  /** Existing local directory the objects are written under (key minus prefix = relative path). */
  root: string;
  /** Objects whose path and sha256 match this manifest are left alone (they came from the backup). */
  manifest?: ManifestSource;
  /**
   * Manifest files of other trees (the rollback of an install with several): an object one of
   * them holds is left alone too. `manifest`'s record of a path stands, then the first of these.
   */
  otherManifests?: readonly string[];
  /**
   * The manifest files are backups' own, their sha256 checked against the backup's record (as
   * the rollback does): written in backup order, they are joined without a first pass that
   * checks it (2 s of CPU at a million records).
   */
  backupManifests?: boolean;
  /**
   * The bulk copy's sync state directory for this target (`migrate`'s `state-dir`): its records
   * tie each uploaded file's sha256 to its md5, so an object whose ETag is the md5 of the
   * manifest's bytes is settled without reading the restored file. Missing: every such object
   * is checked against the file on disk, as without it.
   */
  stateDir?: string;
  /** Objects last modified after this instant are copied (even when in the manifest). */
  modifiedAfter?: Date | string;
  dryRun?: boolean;
  exclude?: readonly string[];
  throwOnFailure?: boolean;
  /**
   * The local path (relative to root) of a key less the prefix; the default is the key itself.
   * Rollback passes Dify's OpenDAL fs normalization, so an object lands where Dify on fs reads it.
   */
  keyToPath?: (key: string) => string;
  /** Called after each object is written, verified and renamed into place (local path, bytes). */
  onCopied?: (path: string, bytes: number) => void;
}

/** What the files on disk say of an object the manifest holds; 'head': only a HEAD can tell. */
type LocalAnswer = boolean | 'head';

/** The options of one run, validated once. */
interface FromBucketConfig {
  concurrency: number;
  prefix: string;
  dryRun: boolean;
  exclude: KeyMatcher | undefined;
  cutoff: number | undefined;
  /** Absolute target directory. */
  root: string;
  manifest: ManifestSource | undefined;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
/** Objects at most this big are compared with the file already on disk before any HEAD. */
const ON_DISK_CHECK_MAX = 1 << 20;
/**
 * Key ranges listed at once, and the ranges the keyspace is cut into. Nearly every object of a
 * copy back is decided from the listing alone, so the listing is what its time waits on: flat
 * pages of 1,000 keys in parallel ranges cost RGW a fraction of one listing per tenant prefix
 * (see key-ranges.ts). Each range's last page may run past its end: more ranges, more waste.
 */
const LIST_WIDTH = 16;
const LIST_RANGES = 16;
/**
 * Objects waiting for a download slot before the checks wait too (≈ 200 bytes each): the
 * downloads (fsync-bound) then run beside the listing instead of holding it up.
 */
const DOWNLOAD_QUEUE_MAX = 4096;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
/** A temporary file: created new, never through a symlink planted at its name. */
const TMP_OPEN_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/**
 * The backup manifest(s) as the listing meets them: each merge-joined in streaming fashion
 * (issue 17 §3, no list of a million paths in memory). A manifest file the join cannot follow in
 * its order (hand-made, or a sibling directory like `upload_files.bak`) is sorted outside memory
 * in key order and joined again from the listing's position.
 */
class ManifestLookup {
  private constructor(
    private readonly joins: { source: ManifestSource; join: ManifestJoin; resorted: boolean }[],
  ) {}

  static async open(sources: ManifestSource[], backupsOwn: boolean): Promise<ManifestLookup> {
    const joins = [];
    for (const source of sources) {
      const join = await ManifestJoin.open(source, undefined, backupsOwn);
      joins.push({ source, join, resorted: false });
    }
    return new ManifestLookup(joins);
  }

  /** The first manifest's record of `rel`; every join is asked, so that each keeps up. */
  async match(rel: string): Promise<ManifestRecord | undefined> {
    let found: ManifestRecord | undefined;
    for (const j of this.joins) {
      const r = await this.matchIn(j, rel);
      found ??= r;
    }
    return found;
  }

  private async matchIn(j: ManifestLookup['joins'][number], rel: string) {
    // A file in backup order whose join gives up (too many records waiting, ManifestJoin) goes
    // on sorted in key order from the listing's position; the answers before were right.
    try {
      return await j.join.match(rel);
    } catch (error) {
      if (!(error instanceof ManifestOrderError) || typeof j.source !== 'string' || j.resorted)
        throw error;
      j.resorted = true;
      await j.join.close();
      j.join = ManifestJoin.resorted(j.source);
      return j.join.match(rel);
    }
  }

  async close(): Promise<void> {
    for (const j of this.joins) await j.join.close();
  }
}

async function fromBucketConfig(options: SyncFromBucketOptions): Promise<FromBucketConfig> {
  const concurrency = positiveInt('concurrency', options.concurrency, 16, 1, 1024);
  const prefix = normalizePrefix(options.prefix);
  const dryRun = options.dryRun ?? false;
  const exclude = compileExcludes(options.exclude);
  let cutoff: number | undefined;
  if (options.modifiedAfter !== undefined) {
    cutoff = new Date(options.modifiedAfter).getTime();
    if (Number.isNaN(cutoff))
      throw new SyncConfigError(`modifiedAfter "${String(options.modifiedAfter)}" is not a date`);
  }
  const root = path.resolve(options.root);
  let rootStat: fs.Stats;
  try {
    rootStat = await fsp.lstat(root);
  } catch (error) {
    throw new SyncConfigError(`target directory ${root} is not accessible: ${errorText(error)}`);
  }
  if (!rootStat.isDirectory()) throw new SyncConfigError(`target ${root} is not a directory`);
  return { concurrency, prefix, dryRun, exclude, cutoff, root, manifest: options.manifest };
}

/**
 * Copies objects back into a local tree (rollback): only objects not in the manifest (or
 * differing from it) or newer than the cutoff. Keys that could leave the root are refused and
 * reported, never written. Each file is written to a temporary name beside its target, verified
 * (size, sha256 metadata, md5 ETag), fsynced, renamed, and given back its mtime; the directories
 * renamed into are fsynced before the run returns.
 */
export async function syncFromBucket(options: SyncFromBucketOptions): Promise<SyncReport> {
  const started = Date.now();
  const cfg = await fromBucketConfig(options);
  const tree = await TreeDirs.openRoot(cfg.root).catch((error: unknown) => {
    throw new SyncConfigError(`target directory ${cfg.root} cannot be opened: ${errorText(error)}`);
  });
  return new FromBucketSync(options, cfg, tree).run(started);
}

/**
 * One copy of a bucket into a tree, as a pipeline of named stages: `walk` streams the listing and
 * refuses the keys that could leave the root, `decide` selects an object (manifest, cutoff),
 * `transfer` downloads, verifies and renames it into place.
 */
export class FromBucketSync extends CopyRun {
  /** The manifest(s), opened at the start of the run (see run). */
  private manifest: ManifestLookup | undefined;
  /** What onDisk reads a file into (ON_DISK_CHECK_MAX bytes, allocated once). */
  private readonly readBuf = Buffer.allocUnsafeSlow(ON_DISK_CHECK_MAX);
  /** Downloads (GET, write, fsync, rename), apart from the checks (`pool`). */
  private readonly downloads: TaskPool;
  /** Downloads queued or running; `idle` is called when it falls to 0. */
  private queued = 0;
  private stopping = false;
  private idle: (() => void) | undefined;
  /** The bulk copy's records (key order, as the listing): sha256 → md5 of what it uploaded. */
  private uploaded: MergedRecordReader | undefined;

  constructor(
    private readonly options: SyncFromBucketOptions,
    private readonly cfg: FromBucketConfig,
    /** The root, and its directories reached without following a symlink (tree-dirs.ts). */
    private readonly tree: TreeDirs,
  ) {
    const source = `s3://${options.target.bucket}/${cfg.prefix}`;
    super(
      options,
      cfg.concurrency,
      cfg.concurrency + LIST_WIDTH + 2,
      emptyReport('sync-from-bucket', 'reverse', cfg.dryRun, source, cfg.root),
    );
    this.downloads = new TaskPool(cfg.concurrency);
  }

  async run(started = Date.now()): Promise<SyncReport> {
    try {
      await preflight(this.transport, this.options.target.region);
      await this.openRecords();
      await this.walk();
      this.ticker.scanComplete = true;
      await this.pool.drain();
      await this.drainDownloads();
    } finally {
      // A run that failed (listing, preflight) lets the work in flight end and starts no queued
      // download: none may write into the tree after the run has returned.
      this.stopping = true;
      await this.pool.drain();
      await this.drainDownloads();
      await this.tree.close();
      await this.uploaded?.close(); // its journal runs hold disk space until closed
      await this.manifest?.close();
      this.close();
    }
    return this.result(
      started,
      `object(s) could not be restored into ${this.cfg.root}`,
      this.options.throwOnFailure,
    );
  }

  /** The manifest(s) and the bulk copy's records, read beside the listing. */
  private async openRecords(): Promise<void> {
    const { options, cfg } = this;
    if (cfg.manifest !== undefined) {
      const sources = [cfg.manifest, ...(options.otherManifests ?? [])];
      this.manifest = await ManifestLookup.open(sources, options.backupManifests === true);
    }
    if (options.stateDir) {
      const origin = this.transport.endpointUrl.origin;
      const id = SyncState.targetId(origin, options.target.bucket, cfg.prefix);
      this.uploaded = await SyncState.readRecords(options.stateDir, id);
    }
  }

  /** Stage 1: the listing; refused and excluded keys are counted, the rest become tasks. */
  private async walk(): Promise<void> {
    const { report, ticker, cfg } = this;
    for await (const obj of listKeyRanges(this.transport, cfg.prefix, LIST_WIDTH, LIST_RANGES)) {
      const rel = (this.options.keyToPath ?? String)(obj.key.slice(cfg.prefix.length));
      report.counts.files++;
      ticker.filesSeen++;
      ticker.bytesSeen += obj.size;
      const reason = unsafeKeyReason(rel);
      if (reason) {
        report.counts.refused++;
        pushCapped(report, report.refused, { path: obj.key, reason });
        ticker.filesDone++;
        continue;
      }
      if (excludesKey(cfg.exclude, rel)) {
        report.counts.excluded++;
        ticker.filesDone++;
        continue;
      }
      // The join runs here, in listing order; the checks that read or request run in the task.
      // A key keyToPath renames (Dify's key fix-up copies: ` a/b`, `a//b`) comes out of the
      // join's order and would carry it past records that later keys name: it is compared with
      // the file on disk instead.
      const renamed = rel !== obj.key.slice(cfg.prefix.length);
      const rec = renamed
        ? undefined
        : await this.withUploadedMd5(obj, await this.manifest?.match(rel));
      const local = rec && !this.newer(obj) ? this.inManifestLocally(rel, obj, rec) : undefined;
      if (local === true) {
        // Settled here, without a task: nearly every object of a copy back (one blocking read
        // at most).
        report.counts.skipped++;
        report.bytes.skipped += obj.size;
        ticker.filesDone++;
        continue;
      }
      await this.pool.run(() => this.transfer(rel, obj, rec, renamed, local));
    }
  }

  /**
   * The manifest's record with the md5 of its bytes, when the bulk copy uploaded bytes of the
   * same sha256 (then their md5 is the md5 of the manifest's bytes, wherever the state came
   * from): the ETag then says whether the object still holds them, without reading the file.
   */
  private async withUploadedMd5(
    obj: ObjectInfo,
    rec: ManifestRecord | undefined,
  ): Promise<ManifestRecord | undefined> {
    if (!rec || rec.md5 || !rec.sha256 || !this.uploaded) return rec;
    const up = await this.uploaded.seek(obj.key);
    return up && up.size === rec.size && up.sha256 === rec.sha256 && MD5_HEX.test(up.md5)
      ? { ...rec, md5: up.md5 }
      : rec;
  }

  /** Stage 2: whether the object is restored: newer than the cutoff, or not the manifest's. */
  private async decide(
    rel: string,
    obj: ObjectInfo,
    rec?: ManifestRecord,
    renamed = false,
    local?: LocalAnswer,
  ): Promise<boolean> {
    const { manifest, cutoff } = this.cfg;
    if (!manifest && cutoff === undefined) return true;
    if (this.newer(obj)) return true;
    if (renamed && manifest !== undefined) return !this.onDiskSmall(rel, obj);
    return manifest !== undefined && !(rec && (await this.inManifest(rel, obj, rec, local)));
  }

  /** Whether the object was last modified after the cutoff. */
  private newer(obj: ObjectInfo): boolean {
    return this.cfg.cutoff !== undefined && Date.parse(obj.lastModified) > this.cfg.cutoff;
  }

  /**
   * Whether the object holds the manifest's bytes. The manifest has sha256, the listing md5: the
   * file already on disk (restored from the backup) bridges them without a request when its md5
   * is the ETag; otherwise one HEAD compares the object's sha256 metadata.
   */
  private async inManifest(
    rel: string,
    obj: ObjectInfo,
    rec: ManifestRecord,
    local = this.inManifestLocally(rel, obj, rec),
  ): Promise<boolean> {
    if (local !== 'head') return local;
    const head = await this.transport.headObject(obj.key);
    return head?.metadata.sha256 === rec.sha256;
  }

  /** inManifest without a request; 'head' when only a HEAD can tell. */
  private inManifestLocally(rel: string, obj: ObjectInfo, rec: ManifestRecord): LocalAnswer {
    if (rec.size !== obj.size) return false;
    const singlePart = !obj.etag.includes('-');
    if (rec.md5 && singlePart) return rec.md5 === obj.etag;
    if (this.onDiskSmall(rel, obj)) {
      this.report.counts.verifiedByRead++;
      return true;
    }
    return rec.sha256 ? 'head' : false;
  }

  /** onDisk for a single-part object small enough to read whole. */
  private onDiskSmall(rel: string, obj: ObjectInfo): boolean {
    return !obj.etag.includes('-') && obj.size <= ON_DISK_CHECK_MAX && this.onDisk(rel, obj);
  }

  /** True when the regular file at `rel` (not through a symlink) has the object's size and md5. */
  private onDisk(rel: string, obj: ObjectInfo): boolean {
    const [relDir, name] = splitRel(rel);
    let fd: number;
    try {
      // Blocking: a threadpool open would wait behind the downloads' fsyncs, and the checks of
      // the listing behind it. All synchronous, so the directory's fd cannot be closed meanwhile.
      const dir = this.tree.find(relDir);
      if (!dir) return false;
      fd = fs.openSync(dir.entryPath(name), FILE_OPEN_FLAGS);
    } catch {
      return false;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size !== obj.size) return false;
      // Small and page-cached (just restored): blocking reads into one reused buffer, one-shot
      // md5 (99,000 files at 100k: a fresh buffer and hash object each cost more than the read).
      const buf = this.readBuf.subarray(0, obj.size);
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) return false;
        got += n;
      }
      return hash('md5', buf) === obj.etag;
    } catch {
      return false;
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Stage 3: decide; an object to restore waits for a download slot, not the check's: a few slow
   * downloads (GET, fsync) must not hold up the checks of the listing behind them.
   */
  private async transfer(
    rel: string,
    obj: ObjectInfo,
    rec?: ManifestRecord,
    renamed = false,
    local?: LocalAnswer,
  ): Promise<void> {
    const { report } = this;
    let copy: boolean;
    try {
      copy = await this.decide(rel, obj, rec, renamed, local);
    } catch (error) {
      this.settle(obj, rel, error);
      return;
    }
    if (!copy) {
      report.counts.skipped++;
      report.bytes.skipped += obj.size;
      this.ticker.filesDone++;
      return;
    }
    this.queued++;
    const started = this.downloads.run(async () => {
      try {
        if (this.stopping) return; // the run failed: not started (see run)
        await this.download(rel, obj);
        if (!this.cfg.dryRun) this.options.onCopied?.(rel, obj.size);
        report.counts.copied++;
        report.bytes.copied += obj.size;
        this.ticker.bytesDone += obj.size;
        this.ticker.filesDone++;
      } catch (error) {
        this.settle(obj, rel, error);
      } finally {
        if (--this.queued === 0) this.idle?.();
      }
    });
    // The check's slot is held only while the queue of downloads is long.
    if (this.queued > DOWNLOAD_QUEUE_MAX) await started;
  }

  /** Until every queued download has finished. */
  private async drainDownloads(): Promise<void> {
    while (this.queued > 0) await new Promise<void>((r) => (this.idle = r));
  }

  /** Counts an object that could not be restored: refused (reported as such) or failed. */
  private settle(obj: ObjectInfo, rel: string, error: unknown): void {
    const { report } = this;
    if (error instanceof RefusedError) {
      report.counts.refused++;
      pushCapped(report, report.refused, { path: obj.key, reason: error.message });
    } else {
      report.counts.failed++;
      pushCapped(report, report.failures, { path: rel, key: obj.key, error: errorText(error) });
    }
    this.ticker.filesDone++;
  }

  /** Writes the object beside its place, verified, then renames it in (three attempts). */
  private async download(rel: string, obj: ObjectInfo): Promise<void> {
    const [relDir, name] = splitRel(rel);
    // Checked again from the root: a directory swapped for a symlink since is refused.
    const dir = this.tree.reach(relDir, !this.cfg.dryRun)?.retain();
    if (!dir) return; // a dry run, under a directory still missing: nothing to collide with
    try {
      const existing = await fsp.lstat(dir.entryPath(name)).catch(() => undefined);
      if (existing?.isDirectory()) {
        // `upload_files/t1` as an object and as a restored directory: refused and reported, so
        // that the rollback still brings the workloads back (issue 14 §5).
        throw new RefusedError(
          'collides with a directory of the same name; the object is not written',
        );
      }
      if (this.cfg.dryRun) return;
      await this.writeBeside(dir, rel, name, obj);
    } finally {
      dir.release();
    }
  }

  /**
   * Writes a temporary file in `dir`, verified and durable with its mtime, then renames it to
   * `name`: both ends through the handle of the directory, never by path from the root.
   */
  private async writeBeside(
    dir: DirHandle,
    rel: string,
    name: string,
    obj: ObjectInfo,
  ): Promise<void> {
    const tmp = dir.entryPath(
      `.dsm-${createHash('sha1').update(rel).digest('hex').slice(0, 12)}-${randomBytes(4).toString('hex')}.partial`,
    );
    for (let attempt = 0; ; attempt++) {
      const fh = await fsp.open(tmp, TMP_OPEN_FLAGS, 0o644);
      try {
        const info = await this.fetchInto(fh, obj);
        const mtime =
          parseMtime(info.metadata.mtime) ?? (Date.parse(obj.lastModified) || undefined);
        // futimes on the open file, then fsync: no path a swap could redirect, mtime durable too.
        if (mtime !== undefined) await fh.utimes(new Date(mtime), new Date(mtime));
        await fh.sync();
      } catch (error) {
        await fh.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
        if (attempt < 2) continue;
        throw error;
      }
      await fh.close();
      break;
    }
    await fsp.rename(tmp, dir.entryPath(name));
    // The rename is made durable with the others of its directory, before the run returns.
    await this.tree.renamedInto(dir);
  }

  /** GETs the object into `fh`, checks size and hashes against what S3 says. */
  private async fetchInto(fh: fsp.FileHandle, obj: ObjectInfo): Promise<HeadInfo> {
    const got = await this.transport.getObject(obj.key);
    const info = got.info;
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    let n = 0;
    for await (const chunk of got.stream as AsyncIterable<Buffer>) {
      sha.update(chunk);
      md5.update(chunk);
      n += chunk.length;
      await fh.write(chunk);
    }
    if (n !== obj.size || n !== info.size)
      throw new Error(`got ${n} bytes, listing says ${obj.size}, header ${info.size}`);
    const shaHex = sha.digest('hex');
    const md5Hex = md5.digest('hex');
    const metaSha = info.metadata.sha256;
    if (metaSha && metaSha !== shaHex)
      throw new Error(`sha256 ${shaHex} differs from the object's metadata ${metaSha}`);
    if (info.etag && !info.etag.includes('-') && info.etag !== md5Hex)
      throw new Error(`md5 ${md5Hex} differs from the ETag ${info.etag}`);
    const md5chk = info.metadata.md5chksum;
    if (md5chk && Buffer.from(md5chk, 'base64').toString('hex') !== md5Hex)
      throw new Error('md5 differs from the md5chksum metadata');
    return info;
  }
}
