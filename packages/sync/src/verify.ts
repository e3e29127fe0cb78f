import { createHash } from 'node:crypto';
import { promises as fsp, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { multipartEtag } from '@dify-storage/s3';
import { SyncConfigError, errorText } from './errors.js';
import { TaskPool } from './fileio.js';
import { compileExcludes, excludesKey, type KeyMatcher } from './glob.js';
import { MiB, hashFile, partSizeFor } from './hashing.js';
import { joinKey, normalizePrefix } from './keys.js';
import { listParallel, listParallelPages } from './listing.js';
import { ListingCursor, march } from './march.js';
import {
  ManifestJoin,
  ManifestOrderError,
  type ManifestRecord,
  type ManifestSource,
} from './manifest.js';
import { defaultConcurrency, positiveInt, type BucketOptions } from './options.js';
import { preflight } from './preflight.js';
import { LIST_LIMIT } from './report.js';
import { SyncState, recordOfFile, type MergedRecordReader } from './state.js';
import { S3Transport, type ObjectInfo, type S3Op } from './transport.js';
import { walkTree, type WalkEntry } from './walk.js';

export interface BucketVerifyOptions extends BucketOptions {
  /** Compare this tree with the bucket… */
  root?: string;
  /** …or this manifest (NDJSON file of {path,size,sha256[,md5]} or records). */
  manifest?: ManifestSource;
  /** Tree mode: the sync state dir, whose hash cache spares reading unchanged files. */
  stateDir?: string;
  exclude?: readonly string[];
  /** Fraction (0–1) of objects to download and sha256 (1 = all); default 0. */
  readBack?: number;
  /** Part size used for multipart uploads (to recompute their ETag); default 16 MiB. */
  partSize?: number;
  /**
   * Keys (less the prefix) that no tree path can produce and the caller checks elsewhere, so
   * they are no "extra" object: Dify's key fix-up copies (a key that is not its own fs path).
   */
  accountedElsewhere?: (key: string) => boolean;
}

export type DifferenceKind = 'missing' | 'extra' | 'size' | 'hash' | 'unverified' | 'error';

export interface Difference {
  path: string;
  kind: DifferenceKind;
  detail: string;
}

export interface BucketVerifyReport {
  kind: 'verify';
  ok: boolean;
  source: string;
  destination: string;
  durationMs: number;
  counts: {
    files: number;
    objects: number;
    matched: number;
    missing: number;
    extra: number;
    size: number;
    hash: number;
    /** Same size but no hash to compare (no metadata, unknown multipart layout). */
    unverified: number;
    errors: number;
    readBack: number;
  };
  differences: Difference[];
  differencesTruncated: boolean;
  requests: Partial<Record<S3Op, number>>;
}

interface Expected {
  rel: string;
  size: number;
  sha256?: string;
  md5?: string;
  /** ETag known to be right (from the sync journal). */
  etag?: string;
  /** Local file to hash when nothing else is known. */
  abs?: string;
  stat?: BigIntStats;
}

function emptyVerifyReport(options: BucketVerifyOptions, prefix: string): BucketVerifyReport {
  return {
    kind: 'verify',
    ok: false,
    source: options.root ?? (typeof options.manifest === 'string' ? options.manifest : 'manifest'),
    destination: `s3://${options.target.bucket}/${prefix}`,
    durationMs: 0,
    counts: {
      files: 0,
      objects: 0,
      matched: 0,
      missing: 0,
      extra: 0,
      size: 0,
      hash: 0,
      unverified: 0,
      errors: 0,
      readBack: 0,
    },
    differences: [],
    differencesTruncated: false,
    requests: {},
  };
}

/**
 * Compares a tree (or a manifest) with the bucket: every key missing, extra, of another size or
 * another hash is reported. Hashes come from the ETag (md5 or md5-of-parts), else from
 * `x-amz-meta-sha256`/`md5chksum` (one HEAD); `readBack` downloads a sample and checks sha256.
 */
export async function verifyBucket(options: BucketVerifyOptions): Promise<BucketVerifyReport> {
  const started = Date.now();
  if (!options.root === !options.manifest) {
    throw new SyncConfigError('verifyBucket needs exactly one of root (a directory) or manifest');
  }
  const readBack = options.readBack ?? 0;
  if (!(readBack >= 0 && readBack <= 1))
    throw new SyncConfigError(`readBack must be between 0 and 1, got ${readBack}`);
  const concurrency = positiveInt(
    'concurrency',
    options.concurrency,
    defaultConcurrency(),
    1,
    1024,
  );
  const partSize = positiveInt('partSize', options.partSize, 16 * MiB, 5 * MiB);
  const verifier = new BucketVerifier(options, {
    readBack,
    concurrency,
    partSize,
    prefix: normalizePrefix(options.prefix),
    exclude: compileExcludes(options.exclude),
  });
  return verifier.run(started);
}

interface VerifyConfig {
  readBack: number;
  concurrency: number;
  partSize: number;
  prefix: string;
  exclude: KeyMatcher | undefined;
}

/**
 * One verification as a pipeline of named stages: `walkTree` (the tree merge-joined with the
 * listing and the journal's hash cache, march.ts) or `walkManifest` (the listing against a
 * manifest) pair every expected file with its object, and `check` decides each pair from what is
 * already known (ETag, journal, metadata) before it reads anything (local file, HEAD, GET).
 */
export class BucketVerifier {
  private readonly transport: S3Transport;
  private readonly report: BucketVerifyReport;
  private readonly pool: TaskPool;

  constructor(
    private readonly options: BucketVerifyOptions,
    private readonly cfg: VerifyConfig,
  ) {
    this.transport = new S3Transport(options.target, {
      maxSockets: cfg.concurrency + 4,
      ...options.transport,
    });
    this.report = emptyVerifyReport(options, cfg.prefix);
    this.pool = new TaskPool(cfg.concurrency);
  }

  async run(started = Date.now()): Promise<BucketVerifyReport> {
    const { report, transport } = this;
    try {
      await preflight(transport, this.options.target.region);
      if (this.options.root) await this.walkTree(path.resolve(this.options.root));
      else await this.walkManifestAnyOrder(this.options.manifest!);
    } finally {
      report.requests = { ...transport.counts };
      transport.close();
    }
    report.durationMs = Date.now() - started;
    const c = report.counts;
    report.ok = c.missing + c.extra + c.size + c.hash + c.errors + c.unverified === 0;
    return report;
  }

  private diff(rel: string, kind: DifferenceKind, detail: string): void {
    const { report } = this;
    const k = kind === 'error' ? 'errors' : kind;
    report.counts[k]++;
    if (report.differences.length < LIST_LIMIT)
      report.differences.push({ path: rel, kind, detail });
    else report.differencesTruncated = true;
  }

  /** Tree mode: the walk merge-joined with the listing (and the journal's records). */
  private async walkTree(root: string): Promise<void> {
    const { prefix } = this.cfg;
    const cursor = new ListingCursor(
      listParallelPages(this.transport, prefix),
      (o) => {
        this.report.counts.objects++;
        const rel = o.key.slice(prefix.length);
        if (!this.options.accountedElsewhere?.(rel))
          this.diff(rel, 'extra', `in the bucket only (${o.size} bytes)`);
      },
      0,
    );
    await fsp.access(root);
    let cache: MergedRecordReader | undefined;
    if (this.options.stateDir) {
      const id = SyncState.targetId(
        this.transport.endpointUrl.origin,
        this.options.target.bucket,
        prefix,
      );
      cache = await SyncState.readRecords(this.options.stateDir, id);
    }
    const keyOf = (e: WalkEntry): string | undefined =>
      e.kind === 'file' ? joinKey(prefix, e.rel) : undefined;
    try {
      for await (const { item: e, key, object } of march(
        walkTree(root, this.cfg.exclude),
        keyOf,
        cursor,
      )) {
        if (e.kind !== 'file' || key === undefined) continue;
        await this.expectFile(e, key, object, cache);
      }
    } finally {
      await cache?.close(); // its journal runs hold disk space until closed
    }
    await this.pool.drain();
    await cursor.finish();
  }

  /** One walked file and its object (if any): the expected side, then a `check` task. */
  private async expectFile(
    e: Extract<WalkEntry, { kind: 'file' }>,
    key: string,
    obj: ObjectInfo | undefined,
    cache: MergedRecordReader | undefined,
  ): Promise<void> {
    this.report.counts.files++;
    const size = Number(e.stat.size);
    if (!obj) {
      this.diff(e.rel, 'missing', `not in the bucket (${size} bytes)`);
      return;
    }
    this.report.counts.objects++;
    const rec = await cache?.seek(key);
    const exp: Expected = { rel: e.rel, size, abs: e.abs, stat: e.stat };
    if (rec && recordOfFile(rec, e.stat)) {
      exp.etag = rec.etag;
      exp.sha256 = rec.sha256;
      exp.md5 = rec.md5;
    }
    const dir = e.dir.retain();
    await this.pool.run(() => this.check(exp, obj).finally(() => dir.release()));
  }

  /**
   * Manifest mode, streamed (ManifestJoin.open: a file out of backup order is sorted first); a
   * file whose join gives up on its order (too many records waiting) is verified again from the
   * start, sorted outside memory in key order. Streamed records must come in backup order.
   */
  private async walkManifestAnyOrder(source: ManifestSource): Promise<void> {
    const missing = (rec: ManifestRecord): void => {
      if (!excludesKey(this.cfg.exclude, rec.path))
        this.diff(rec.path, 'missing', `not in the bucket (${rec.size} bytes)`);
    };
    const first = await ManifestJoin.open(source, missing);
    try {
      await this.walkManifest(first);
    } catch (error) {
      await first.close();
      if (!(error instanceof ManifestOrderError) || typeof source !== 'string') throw error;
      await this.pool.drain();
      Object.assign(this.report, emptyVerifyReport(this.options, this.cfg.prefix));
      await this.walkManifest(ManifestJoin.resorted(source, missing));
    }
  }

  /**
   * Every listed object against the manifest, merge-joined (ManifestJoin): no map of the
   * manifest's paths; what the bucket lacks is reported as the join passes it.
   */
  private async walkManifest(join: ManifestJoin): Promise<void> {
    const { report, cfg } = this;
    for await (const obj of listParallel(this.transport, cfg.prefix)) {
      report.counts.objects++;
      const rel = obj.key.slice(cfg.prefix.length);
      const rec = await join.match(rel);
      if (!rec) {
        if (!excludesKey(cfg.exclude, rel) && !this.options.accountedElsewhere?.(rel))
          this.diff(rel, 'extra', `in the bucket only (${obj.size} bytes)`);
        continue;
      }
      const exp: Expected = {
        rel,
        size: rec.size,
        ...(rec.sha256 ? { sha256: rec.sha256 } : {}),
        ...(rec.md5 ? { md5: rec.md5 } : {}),
      };
      await this.pool.run(() => this.check(exp, obj));
    }
    await join.finish();
    report.counts.files = join.records;
    await this.pool.drain();
  }

  /** Decides one (expected, object) pair; may read the local file, HEAD or GET. */
  private async check(exp: Expected, obj: ObjectInfo): Promise<void> {
    try {
      if (obj.size !== exp.size) {
        this.diff(exp.rel, 'size', `local ${exp.size} bytes, bucket ${obj.size}`);
        return;
      }
      const known = await this.knownHashes(exp, obj);
      if (known === 'changed') {
        this.diff(exp.rel, 'error', 'local file changed during verification');
        return;
      }
      const { sha, md5 } = known;
      let hashOk = known.hashOk;
      if (hashOk === undefined) {
        const head = await this.transport.headObject(obj.key);
        if (!head) {
          this.diff(exp.rel, 'missing', 'deleted during verification');
          return;
        }
        if (sha && head.metadata.sha256) hashOk = head.metadata.sha256 === sha;
        else if (md5 && head.metadata.md5chksum)
          hashOk = Buffer.from(head.metadata.md5chksum, 'base64').toString('hex') === md5;
      }
      if (hashOk === false) {
        this.diff(exp.rel, 'hash', `content differs (ETag ${obj.etag})`);
        return;
      }
      const { readBack } = this.cfg;
      const sample = readBack > 0 && (readBack >= 1 || Math.random() < readBack);
      if ((sample || hashOk === undefined) && !(await this.readBack(exp, obj, sha, md5))) return;
      this.report.counts.matched++;
    } catch (error) {
      this.diff(exp.rel, 'error', errorText(error));
    }
  }

  /**
   * The hashes known without a request: the journal's ETag, the manifest's, or the local file's
   * (read only when nothing else is known); `hashOk` when they already decide the pair.
   */
  private async knownHashes(
    exp: Expected,
    obj: ObjectInfo,
  ): Promise<{ sha?: string; md5?: string; hashOk?: boolean } | 'changed'> {
    let sha = exp.sha256;
    let md5 = exp.md5;
    let hashOk: boolean | undefined;
    if (exp.etag !== undefined) hashOk = exp.etag === obj.etag;
    if (hashOk === undefined && !md5 && !sha && exp.abs && exp.stat) {
      const multi = obj.etag.includes('-');
      const r = await hashFile(
        exp.abs,
        exp.stat,
        multi ? partSizeFor(exp.size, this.cfg.partSize) : undefined,
        Buffer.allocUnsafe(Math.min(MiB, Math.max(1, exp.size))),
      );
      if (r.changed) return 'changed';
      md5 = r.hashes.md5.toString('hex');
      sha = r.hashes.sha256;
      if (multi && multipartEtag(r.hashes.partMd5s) === obj.etag) hashOk = true;
    }
    if (hashOk === undefined && md5 && !obj.etag.includes('-')) hashOk = md5 === obj.etag;
    return {
      ...(sha ? { sha } : {}),
      ...(md5 ? { md5 } : {}),
      ...(hashOk !== undefined ? { hashOk } : {}),
    };
  }

  /** Downloads the object and compares its bytes' hash; false when a difference was reported. */
  private async readBack(
    exp: Expected,
    obj: ObjectInfo,
    sha: string | undefined,
    md5: string | undefined,
  ): Promise<boolean> {
    if (!sha && !md5) {
      this.diff(exp.rel, 'unverified', 'same size; no hash known for the source');
      return false;
    }
    const { stream } = await this.transport.getObject(obj.key);
    const hs = createHash('sha256');
    const hm = createHash('md5');
    let n = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hs.update(chunk);
      hm.update(chunk);
      n += chunk.length;
    }
    this.report.counts.readBack++;
    if (n !== exp.size) {
      this.diff(exp.rel, 'size', `read back ${n} bytes, expected ${exp.size}`);
      return false;
    }
    if ((sha && hs.digest('hex') !== sha) || (!sha && md5 && hm.digest('hex') !== md5)) {
      this.diff(exp.rel, 'hash', 'content read back differs');
      return false;
    }
    return true;
  }
}

export function formatVerifySummary(r: BucketVerifyReport): string {
  const c = r.counts;
  const lines = [
    `verify ${r.source} <-> ${r.destination}: ${r.ok ? 'OK, identical' : 'DIFFERENCES FOUND'}`,
    `  ${c.files} source files, ${c.objects} objects: matched ${c.matched}, missing ${c.missing}, extra ${c.extra}, size ${c.size}, hash ${c.hash}, unverified ${c.unverified}, errors ${c.errors}; read back ${c.readBack}; ${(r.durationMs / 1000).toFixed(1)}s`,
  ];
  for (const d of r.differences.slice(0, 50)) lines.push(`    ${d.kind}: ${d.path} (${d.detail})`);
  if (r.differences.length > 50)
    lines.push(`    … ${r.differences.length - 50} more in the JSON report`);
  return lines.join('\n');
}
