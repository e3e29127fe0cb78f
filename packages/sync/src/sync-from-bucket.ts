import { createHash, randomBytes } from 'node:crypto';
import type fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SyncConfigError, errorText } from './errors.js';
import { CopyRun } from './copy-run.js';
import { compileExcludes, excludesKey, type KeyMatcher } from './glob.js';
import { normalizePrefix, unsafeKeyReason } from './keys.js';
import { listParallel } from './listing.js';
import { ManifestTable, type ManifestRecord, type ManifestSource } from './manifest.js';
import { positiveInt, type BucketOptions } from './options.js';
import { preflight } from './preflight.js';
import { emptyReport, pushCapped, type SyncReport } from './report.js';
import type { HeadInfo, ObjectInfo } from './transport.js';
import { parseMtime } from './walk.js';

export interface SyncFromBucketOptions extends BucketOptions {
  /** Existing local directory the objects are written under (key minus prefix = relative path). */
  root: string;
  /** Objects whose path and sha256 match this manifest are left alone (they came from the backup). */
  manifest?: ManifestSource;
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

class RefusedError extends Error {}

/** The options of one run, validated once. */
interface FromBucketConfig {
  concurrency: number;
  prefix: string;
  dryRun: boolean;
  exclude: KeyMatcher | undefined;
  cutoff: number | undefined;
  /** Absolute target directory. */
  root: string;
  /** By path hash, in typed arrays: no Map of a million paths (issue 17 §3). */
  manifest: ManifestTable | undefined;
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
  const manifest = options.manifest ? await ManifestTable.load(options.manifest) : undefined;
  return { concurrency, prefix, dryRun, exclude, cutoff, root, manifest };
}

/**
 * Copies objects back into a local tree (rollback): only objects not in the manifest (or
 * differing from it) or newer than the cutoff. Keys that could leave the root are refused and
 * reported, never written. Each file is written to a temporary name beside its target, verified
 * (size, sha256 metadata, md5 ETag), fsynced, renamed, and given back its mtime.
 */
export async function syncFromBucket(options: SyncFromBucketOptions): Promise<SyncReport> {
  const started = Date.now();
  const cfg = await fromBucketConfig(options);
  return new FromBucketSync(options, cfg).run(started);
}

/**
 * One copy of a bucket into a tree, as a pipeline of named stages: `walk` streams the listing and
 * refuses the keys that could leave the root, `decide` selects an object (manifest, cutoff),
 * `transfer` downloads, verifies and renames it into place.
 */
export class FromBucketSync extends CopyRun {
  private readonly dirOk = new Map<string, Promise<void>>();

  constructor(
    private readonly options: SyncFromBucketOptions,
    private readonly cfg: FromBucketConfig,
  ) {
    const source = `s3://${options.target.bucket}/${cfg.prefix}`;
    super(
      options,
      cfg.concurrency,
      4,
      emptyReport('sync-from-bucket', 'reverse', cfg.dryRun, source, cfg.root),
    );
  }

  async run(started = Date.now()): Promise<SyncReport> {
    try {
      await preflight(this.transport, this.options.target.region);
      await this.walk();
      this.ticker.scanComplete = true;
      await this.pool.drain();
    } finally {
      this.close();
    }
    return this.result(
      started,
      `object(s) could not be restored into ${this.cfg.root}`,
      this.options.throwOnFailure,
    );
  }

  /** Stage 1: the listing; refused and excluded keys are counted, the rest become tasks. */
  private async walk(): Promise<void> {
    const { report, ticker, cfg } = this;
    for await (const obj of listParallel(this.transport, cfg.prefix)) {
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
      await this.pool.run(() => this.transfer(rel, obj));
    }
  }

  /** Stage 2: whether the object is restored: newer than the cutoff, or not the manifest's. */
  private async decide(rel: string, obj: ObjectInfo): Promise<boolean> {
    const { manifest, cutoff } = this.cfg;
    if (!manifest && cutoff === undefined) return true;
    if (cutoff !== undefined && Date.parse(obj.lastModified) > cutoff) return true;
    const rec = manifest?.get(rel);
    return manifest !== undefined && !(rec && (await this.inManifest(obj, rec)));
  }

  private async inManifest(obj: ObjectInfo, rec: ManifestRecord): Promise<boolean> {
    if (rec.size !== obj.size) return false;
    if (rec.md5 && !obj.etag.includes('-')) return rec.md5 === obj.etag;
    if (!rec.sha256) return false;
    const head = await this.transport.headObject(obj.key);
    return head?.metadata.sha256 === rec.sha256;
  }

  /** Stage 3: decide, download, count; a refusal or failure is reported, not thrown. */
  private async transfer(rel: string, obj: ObjectInfo): Promise<void> {
    const { report, ticker } = this;
    try {
      if (!(await this.decide(rel, obj))) {
        report.counts.skipped++;
        report.bytes.skipped += obj.size;
        return;
      }
      await this.download(rel, obj);
      if (!this.cfg.dryRun) this.options.onCopied?.(rel, obj.size);
      report.counts.copied++;
      report.bytes.copied += obj.size;
      ticker.bytesDone += obj.size;
    } catch (error) {
      if (error instanceof RefusedError) {
        report.counts.refused++;
        pushCapped(report, report.refused, { path: obj.key, reason: error.message });
      } else {
        report.counts.failed++;
        pushCapped(report, report.failures, { path: rel, key: obj.key, error: errorText(error) });
      }
    } finally {
      ticker.filesDone++;
    }
  }

  /** Creates the parent directories of `rel` inside root, refusing to pass through a symlink. */
  private ensureParents(relDir: string): Promise<void> {
    if (relDir === '' || relDir === '.') return Promise.resolve();
    let p = this.dirOk.get(relDir);
    if (!p) {
      p = (async () => {
        await this.ensureParents(path.posix.dirname(relDir));
        const abs = path.join(this.cfg.root, relDir);
        let st: fs.Stats | undefined;
        try {
          st = await fsp.lstat(abs);
        } catch {
          st = undefined;
        }
        if (st?.isSymbolicLink())
          throw new RefusedError(`path passes through a symlink (${relDir})`);
        // An object under a key that is a restored file: refused like a hostile key, not a failure.
        if (st && !st.isDirectory())
          throw new RefusedError(`collides with the file ${relDir}; the object is not written`);
        if (!st && !this.cfg.dryRun)
          await fsp.mkdir(abs).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'EEXIST') throw e;
          });
      })();
      this.dirOk.set(relDir, p);
    }
    return p;
  }

  /** Writes the object beside its place, verified, then renames it in (three attempts). */
  private async download(rel: string, obj: ObjectInfo): Promise<void> {
    const relDir = path.posix.dirname(rel);
    await this.ensureParents(relDir === '.' ? '' : relDir);
    const finalPath = path.join(this.cfg.root, rel);
    const existing = await fsp.lstat(finalPath).catch(() => undefined);
    if (existing?.isDirectory()) {
      // `upload_files/t1` as an object and as a restored directory: refused and reported, so
      // that the rollback still brings the workloads back (issue 14 §5).
      throw new RefusedError(
        'collides with a directory of the same name; the object is not written',
      );
    }
    if (this.cfg.dryRun) return;
    const dir = path.dirname(finalPath);
    const tmp = path.join(
      dir,
      `.dsm-${createHash('sha1').update(rel).digest('hex').slice(0, 12)}-${randomBytes(4).toString('hex')}.partial`,
    );
    let info: HeadInfo;
    for (let attempt = 0; ; attempt++) {
      const fh = await fsp.open(tmp, 'wx', 0o644);
      try {
        info = await this.fetchInto(fh, obj);
      } catch (error) {
        await fh.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
        if (attempt < 2) continue;
        throw error;
      }
      await fh.close();
      break;
    }
    const mtime = parseMtime(info.metadata.mtime) ?? (Date.parse(obj.lastModified) || undefined);
    if (mtime !== undefined) await fsp.utimes(tmp, new Date(mtime), new Date(mtime));
    await fsp.rename(tmp, finalPath);
    // Make the rename durable before reporting the file restored.
    const dfd = await fsp.open(dir, 'r');
    await dfd.sync().catch(() => undefined);
    await dfd.close();
  }

  /** GETs the object into `fh`, checks size and hashes against what S3 says, fsyncs. */
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
    await fh.sync();
    return info;
  }
}
