import { createHash, randomBytes } from 'node:crypto';
import type fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { SyncConfigError, errorText } from './errors.js';
import { TaskPool } from './fileio.js';
import { compileExcludes, excludesKey } from './glob.js';
import { normalizePrefix, unsafeKeyReason } from './keys.js';
import { listParallel } from './listing.js';
import { loadManifest, type ManifestRecord, type ManifestSource } from './manifest.js';
import { positiveInt, type BucketOptions } from './options.js';
import { preflight, validateRegion } from './preflight.js';
import {
  ProgressTicker,
  emptyReport,
  finishReport,
  returnOrThrow,
  pushCapped,
  type SyncReport,
} from './report.js';
import { S3Transport, type HeadInfo, type ObjectInfo } from './transport.js';
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

/**
 * Copies objects back into a local tree (rollback): only objects not in the manifest (or
 * differing from it) or newer than the cutoff. Keys that could leave the root are refused and
 * reported, never written. Each file is written to a temporary name beside its target, verified
 * (size, sha256 metadata, md5 ETag), fsynced, renamed, and given back its mtime.
 */
export async function syncFromBucket(options: SyncFromBucketOptions): Promise<SyncReport> {
  const started = Date.now();
  validateRegion(options.target.region);
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
  const manifest = options.manifest ? await loadManifest(options.manifest) : undefined;
  const transport = new S3Transport(options.target, {
    maxSockets: concurrency + 4,
    ...options.transport,
  });
  const report = emptyReport(
    'sync-from-bucket',
    'reverse',
    dryRun,
    `s3://${options.target.bucket}/${prefix}`,
    root,
  );
  const ticker = new ProgressTicker(report, options.onProgress, options.progressIntervalMs ?? 2000);
  const pool = new TaskPool(concurrency);
  const dirOk = new Map<string, Promise<void>>();

  /** Creates the parent directories of `rel` inside root, refusing to pass through a symlink. */
  const ensureParents = (relDir: string): Promise<void> => {
    if (relDir === '' || relDir === '.') return Promise.resolve();
    let p = dirOk.get(relDir);
    if (!p) {
      p = (async () => {
        await ensureParents(path.posix.dirname(relDir));
        const abs = path.join(root, relDir);
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
        if (!st && !dryRun)
          await fsp.mkdir(abs).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'EEXIST') throw e;
          });
      })();
      dirOk.set(relDir, p);
    }
    return p;
  };

  const inManifest = async (
    rel: string,
    obj: ObjectInfo,
    rec: ManifestRecord,
  ): Promise<boolean> => {
    if (rec.size !== obj.size) return false;
    if (rec.md5 && !obj.etag.includes('-')) return rec.md5 === obj.etag;
    if (!rec.sha256) return false;
    const head = await transport.headObject(obj.key);
    void rel;
    return head?.metadata.sha256 === rec.sha256;
  };

  const download = async (rel: string, obj: ObjectInfo): Promise<void> => {
    const relDir = path.posix.dirname(rel);
    await ensureParents(relDir === '.' ? '' : relDir);
    const finalPath = path.join(root, rel);
    const existing = await fsp.lstat(finalPath).catch(() => undefined);
    if (existing?.isDirectory()) {
      // `upload_files/t1` as an object and as a restored directory: refused and reported, so
      // that the rollback still brings the workloads back (issue 14 §5).
      throw new RefusedError(
        'collides with a directory of the same name; the object is not written',
      );
    }
    if (dryRun) return;
    const dir = path.dirname(finalPath);
    const tmp = path.join(
      dir,
      `.dsm-${createHash('sha1').update(rel).digest('hex').slice(0, 12)}-${randomBytes(4).toString('hex')}.partial`,
    );
    for (let attempt = 0; ; attempt++) {
      let info: HeadInfo;
      const fh = await fsp.open(tmp, 'wx', 0o644);
      let ok = false;
      try {
        const got = await transport.getObject(obj.key);
        info = got.info;
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
        ok = true;
      } catch (error) {
        await fh.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
        if (attempt < 2) continue;
        throw error;
      }
      if (ok) {
        await fh.close();
        const mtime =
          parseMtime(info.metadata.mtime) ?? (Date.parse(obj.lastModified) || undefined);
        if (mtime !== undefined) await fsp.utimes(tmp, new Date(mtime), new Date(mtime));
        await fsp.rename(tmp, finalPath);
        // Make the rename durable before reporting the file restored.
        const dfd = await fsp.open(dir, 'r');
        await dfd.sync().catch(() => undefined);
        await dfd.close();
        return;
      }
    }
  };

  try {
    await preflight(transport, options.target.region);
    for await (const obj of listParallel(transport, prefix)) {
      const rel = (options.keyToPath ?? String)(obj.key.slice(prefix.length));
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
      if (excludesKey(exclude, rel)) {
        report.counts.excluded++;
        ticker.filesDone++;
        continue;
      }
      await pool.run(async () => {
        try {
          const rec = manifest?.get(rel);
          const newer = cutoff !== undefined && Date.parse(obj.lastModified) > cutoff;
          let selected: boolean;
          if (!manifest && cutoff === undefined) selected = true;
          else
            selected =
              newer || (manifest !== undefined && !(rec && (await inManifest(rel, obj, rec))));
          if (!selected) {
            report.counts.skipped++;
            report.bytes.skipped += obj.size;
            return;
          }
          await download(rel, obj);
          if (!dryRun) options.onCopied?.(rel, obj.size);
          report.counts.copied++;
          report.bytes.copied += obj.size;
          ticker.bytesDone += obj.size;
        } catch (error) {
          if (error instanceof RefusedError) {
            report.counts.refused++;
            pushCapped(report, report.refused, { path: obj.key, reason: error.message });
          } else {
            report.counts.failed++;
            pushCapped(report, report.failures, {
              path: rel,
              key: obj.key,
              error: errorText(error),
            });
          }
        } finally {
          ticker.filesDone++;
        }
      });
    }
    ticker.scanComplete = true;
    await pool.drain();
  } finally {
    ticker.stop();
    report.requests = { ...transport.counts };
    report.retries = transport.retries;
    transport.close();
  }
  finishReport(report, started);
  return returnOrThrow(
    report,
    `object(s) could not be restored into ${root}`,
    options.throwOnFailure,
  );
}
