import { createHash } from 'node:crypto';
import { promises as fsp, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { multipartEtag } from '@dify-storage/s3';
import { SyncConfigError, errorText } from './errors.js';
import { TaskPool } from './fileio.js';
import { compileExcludes, excludesKey } from './glob.js';
import { MiB, hashFile, partSizeFor } from './hashing.js';
import { joinKey, normalizePrefix } from './keys.js';
import { ListingCursor, listParallel } from './listing.js';
import { loadManifest, type ManifestRecord, type ManifestSource } from './manifest.js';
import { defaultConcurrency, positiveInt, type BucketOptions } from './options.js';
import { preflight, validateRegion } from './preflight.js';
import { LIST_LIMIT } from './report.js';
import { SortedRecordReader, SyncState } from './state.js';
import { S3Transport, type ObjectInfo, type S3Op } from './transport.js';
import { walkTree } from './walk.js';

export interface VerifyOptions extends BucketOptions {
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

export interface VerifyReport {
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

/**
 * Compares a tree (or a manifest) with the bucket: every key missing, extra, of another size or
 * another hash is reported. Hashes come from the ETag (md5 or md5-of-parts), else from
 * `x-amz-meta-sha256`/`md5chksum` (one HEAD); `readBack` downloads a sample and checks sha256.
 */
export async function verifyBucket(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  if (!options.root === !options.manifest) {
    throw new SyncConfigError('verifyBucket needs exactly one of root (a directory) or manifest');
  }
  const readBack = options.readBack ?? 0;
  if (!(readBack >= 0 && readBack <= 1))
    throw new SyncConfigError(`readBack must be between 0 and 1, got ${readBack}`);
  validateRegion(options.target.region);
  const concurrency = positiveInt(
    'concurrency',
    options.concurrency,
    defaultConcurrency(),
    1,
    1024,
  );
  const partSize = positiveInt('partSize', options.partSize, 16 * MiB, 5 * MiB);
  const prefix = normalizePrefix(options.prefix);
  const exclude = compileExcludes(options.exclude);
  const transport = new S3Transport(options.target, {
    maxSockets: concurrency + 4,
    ...options.transport,
  });
  const report: VerifyReport = {
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
  const diff = (rel: string, kind: DifferenceKind, detail: string): void => {
    const k = kind === 'error' ? 'errors' : kind;
    report.counts[k]++;
    if (report.differences.length < LIST_LIMIT)
      report.differences.push({ path: rel, kind, detail });
    else report.differencesTruncated = true;
  };
  const pool = new TaskPool(concurrency);

  /** Decides one (expected, object) pair; may read the local file, HEAD or GET. */
  const check = async (exp: Expected, obj: ObjectInfo): Promise<void> => {
    const key = obj.key;
    try {
      if (obj.size !== exp.size) {
        diff(exp.rel, 'size', `local ${exp.size} bytes, bucket ${obj.size}`);
        return;
      }
      let sha = exp.sha256;
      let md5 = exp.md5;
      let hashOk: boolean | undefined;
      if (exp.etag !== undefined) hashOk = exp.etag === obj.etag;
      if (hashOk === undefined && !md5 && !sha && exp.abs && exp.stat) {
        const multi = obj.etag.includes('-');
        const r = await hashFile(
          exp.abs,
          exp.stat,
          multi ? partSizeFor(exp.size, partSize) : undefined,
          Buffer.allocUnsafe(Math.min(MiB, Math.max(1, exp.size))),
        );
        if (r.changed) {
          diff(exp.rel, 'error', 'local file changed during verification');
          return;
        }
        md5 = r.hashes.md5.toString('hex');
        sha = r.hashes.sha256;
        if (multi && multipartEtag(r.hashes.partMd5s) === obj.etag) hashOk = true;
      }
      if (hashOk === undefined && md5 && !obj.etag.includes('-')) hashOk = md5 === obj.etag;
      if (hashOk === undefined) {
        const head = await transport.headObject(key);
        if (!head) {
          diff(exp.rel, 'missing', 'deleted during verification');
          return;
        }
        if (sha && head.metadata.sha256) hashOk = head.metadata.sha256 === sha;
        else if (md5 && head.metadata.md5chksum)
          hashOk = Buffer.from(head.metadata.md5chksum, 'base64').toString('hex') === md5;
      }
      if (hashOk === false) {
        diff(exp.rel, 'hash', `content differs (ETag ${obj.etag})`);
        return;
      }
      const sample = readBack > 0 && (readBack >= 1 || Math.random() < readBack);
      if (sample || hashOk === undefined) {
        if (!sha && !md5) {
          diff(exp.rel, 'unverified', 'same size; no hash known for the source');
          return;
        }
        const { info, stream } = await transport.getObject(key);
        const hs = createHash('sha256');
        const hm = createHash('md5');
        let n = 0;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          hs.update(chunk);
          hm.update(chunk);
          n += chunk.length;
        }
        report.counts.readBack++;
        void info;
        if (n !== exp.size) {
          diff(exp.rel, 'size', `read back ${n} bytes, expected ${exp.size}`);
          return;
        }
        if ((sha && hs.digest('hex') !== sha) || (!sha && md5 && hm.digest('hex') !== md5)) {
          diff(exp.rel, 'hash', 'content read back differs');
          return;
        }
      }
      report.counts.matched++;
    } catch (error) {
      diff(exp.rel, 'error', errorText(error));
    }
  };

  try {
    await preflight(transport, options.target.region);
    const cursor = new ListingCursor(
      listParallel(transport, prefix),
      (o) => {
        report.counts.objects++;
        const rel = o.key.slice(prefix.length);
        if (!options.accountedElsewhere?.(rel))
          diff(rel, 'extra', `in the bucket only (${o.size} bytes)`);
      },
      0,
    );
    if (options.root) {
      const root = path.resolve(options.root);
      await fsp.access(root);
      let cache: SortedRecordReader | undefined;
      if (options.stateDir) {
        const id = SyncState.targetId(transport.endpointUrl.origin, options.target.bucket, prefix);
        cache = await SortedRecordReader.open(path.join(options.stateDir, `${id}.files.ndjson`));
      }
      for await (const e of walkTree(root, exclude)) {
        if (e.kind !== 'file') continue;
        report.counts.files++;
        const key = joinKey(prefix, e.rel);
        const obj = await cursor.seek(key);
        const size = Number(e.stat.size);
        if (!obj) {
          diff(e.rel, 'missing', `not in the bucket (${size} bytes)`);
          continue;
        }
        report.counts.objects++;
        const rec = await cache?.seek(key);
        const exp: Expected = { rel: e.rel, size, abs: e.abs, stat: e.stat };
        if (
          rec &&
          rec.s === size &&
          rec.m === e.stat.mtimeNs.toString() &&
          rec.i === e.stat.ino.toString()
        ) {
          exp.etag = rec.e;
          exp.sha256 = rec.sha;
          exp.md5 = rec.md5;
        }
        const dir = e.dir.retain();
        await pool.run(() => check(exp, obj).finally(() => dir.release()));
      }
      await cache?.close();
    } else {
      const manifest = await loadManifest(options.manifest!);
      report.counts.files = manifest.size;
      for await (const obj of listParallel(transport, prefix)) {
        report.counts.objects++;
        const rel = obj.key.slice(prefix.length);
        const rec: ManifestRecord | undefined = manifest.get(rel);
        if (!rec) {
          if (!excludesKey(exclude, rel) && !options.accountedElsewhere?.(rel))
            diff(rel, 'extra', `in the bucket only (${obj.size} bytes)`);
          continue;
        }
        manifest.delete(rel);
        const exp: Expected = {
          rel,
          size: rec.size,
          ...(rec.sha256 ? { sha256: rec.sha256 } : {}),
          ...(rec.md5 ? { md5: rec.md5 } : {}),
        };
        await pool.run(() => check(exp, obj));
      }
      for (const rec of manifest.values()) {
        if (excludesKey(exclude, rec.path)) continue;
        diff(rec.path, 'missing', `not in the bucket (${rec.size} bytes)`);
      }
    }
    await pool.drain();
    if (options.root) await cursor.finish();
  } finally {
    report.requests = { ...transport.counts };
    transport.close();
  }
  report.durationMs = Date.now() - started;
  const c = report.counts;
  report.ok = c.missing + c.extra + c.size + c.hash + c.errors + c.unverified === 0;
  return report;
}

export function formatVerifySummary(r: VerifyReport): string {
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
