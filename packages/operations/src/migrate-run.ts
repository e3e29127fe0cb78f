import { ConfigurationError } from '@dify-storage/action-kit';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findBackup, listBackups } from '@dify-storage/backup';
import { writeJsonAtomic } from '@dify-storage/common';
import {
  formatProgress,
  formatSummary,
  formatVerifySummary,
  syncToBucket,
  verifyBucket,
  type SyncReport,
  type BucketVerifyReport,
  type SyncToBucketOptions,
} from '@dify-storage/sync';
import type { S3Target } from '@dify-storage/s3';
import { checkStorageIdentity } from './identity.js';
import { fixUpKeys, formatKeyFixUp, isFixUpKey, type KeyFixUpReport } from './key-fixup.js';
import { progressOf, type Logger } from './logger.js';
import type { MigrateConfig } from './migrate-config.js';
import { lockStateDir } from './state-lock.js';
import {
  compareWithEarlier,
  conflictRefusal,
  describeComparison,
  literalExcludes,
  recordTrees,
  treeStateDir,
  type StorageTree,
} from './tree-compare.js';

const READ_BACK_FRACTION = { none: 0, sample: 0.01, all: 1 } as const;

export type MigrateResult =
  | {
      mode: 'bulk' | 'delta';
      report: SyncReport;
      /** The second step, with a database URL: keys whose fs path differs, put verbatim. */
      keyFixUp?: KeyFixUpReport;
      /** The install's other storage trees (shapes 3 and 4), copied after storage-path's. */
      trees?: TreeCopy[];
      text: string;
      reportPath: string;
    }
  | { mode: 'verify'; report: BucketVerifyReport; text: string; reportPath: string };

/**
 * migrate-to-s3: the online bulk copy, the frozen delta pass, or a comparison of tree (or backup
 * manifest) and bucket. Progress goes to the log every few seconds, never a line per file.
 */
export async function runMigrate(config: MigrateConfig, log: Logger): Promise<MigrateResult> {
  const target = config.s3;
  const release = await lockStateDir(config.stateDir, `migrate --mode ${config.mode}`);
  try {
    return await migrate(config, target, log);
  } finally {
    await release();
  }
}

async function migrate(
  config: MigrateConfig,
  target: S3Target,
  log: Logger,
): Promise<MigrateResult> {
  const common = {
    target,
    ...(config.concurrency > 0 ? { concurrency: config.concurrency } : {}),
    onProgress: (e: Parameters<typeof formatProgress>[0]) => progressOf(log)(formatProgress(e)),
    progressIntervalMs: 5000,
  };
  if (config.mode === 'verify') {
    const report = await verifyBucket({
      ...common,
      ...(config.manifestPath ? { manifest: config.manifestPath } : { root: config.storagePath }),
      stateDir: config.stateDir,
      exclude: config.exclude,
      readBack: READ_BACK_FRACTION[config.readBack],
      // Objects the key fix-up put at keys that are not their own fs path.
      accountedElsewhere: isFixUpKey,
    });
    await writeJsonAtomic(config.reportPath, report);
    return {
      mode: 'verify',
      report,
      text: formatVerifySummary(report),
      reportPath: config.reportPath,
    };
  }
  if (config.mode === 'bulk')
    await checkStorageIdentity(config.databaseUrl, config.storagePath, log);
  const report = await syncToBucket({
    ...common,
    root: config.storagePath,
    stateDir: config.stateDir,
    mode: config.mode,
    ...(config.bandwidthLimit > 0 ? { bandwidthLimit: config.bandwidthLimit } : {}),
    dryRun: config.dryRun,
    exclude: config.exclude,
    throwOnFailure: false,
  });
  const keyFixUp = config.databaseUrl
    ? await fixUpKeys({
        databaseUrl: config.databaseUrl,
        root: config.storagePath,
        target,
        dryRun: config.dryRun,
      })
    : undefined;
  if (keyFixUp?.failed.length) report.ok = false;
  const trees = await copyOtherTrees(config, common, log);
  if (trees.some((t) => !t.report.ok)) report.ok = false;
  await writeJsonAtomic(config.reportPath, {
    ...report,
    ...(keyFixUp ? { keyFixUp } : {}),
    ...(trees.length ? { trees } : {}),
  });
  const text = [
    formatSummary(report),
    ...(keyFixUp ? [formatKeyFixUp(keyFixUp)] : []),
    ...trees.flatMap((t) => [`${t.label}'s tree ${t.dir}:`, formatSummary(t.report), t.comparison]),
  ].join('\n');
  return {
    mode: config.mode,
    report,
    ...(keyFixUp ? { keyFixUp } : {}),
    ...(trees.length ? { trees } : {}),
    text,
    reportPath: config.reportPath,
  };
}

export interface TreeCopy {
  label: string;
  dir: string;
  report: SyncReport;
  /** What it holds against the trees before it, in a sentence (conflicts named). */
  comparison: string;
  /** Keys also in an earlier tree with different content: left out, never overwritten. */
  conflicts: string[];
}

/**
 * The other storage trees the backup of storage-path names (none without such a backup), each
 * after the ones before it, with a sync state of its own. A key also in an earlier tree with
 * different content is left out: the bucket keeps the earlier tree's (the api's first), and the
 * cutover stays blocked until an operator resolves it. Identical keys are found in the bucket
 * and skipped, so each is copied once.
 */
async function copyOtherTrees(
  config: MigrateConfig,
  common: Pick<SyncToBucketOptions, 'target' | 'concurrency' | 'onProgress' | 'progressIntervalMs'>,
  log: Logger,
): Promise<TreeCopy[]> {
  const trees = await migrateTrees(config);
  const out: TreeCopy[] = [];
  for (let j = 1; j < trees.length; j++) {
    const tree = trees[j]!;
    const c = await compareWithEarlier(trees.slice(0, j), tree);
    const conflicts = c.conflicts.map((x) => x.key);
    const comparison = describeComparison([c]);
    if (conflicts.length) log.warn(conflictRefusal([c])!);
    const report = await syncToBucket({
      ...common,
      root: tree.dir,
      stateDir: treeStateDir(config.stateDir, tree),
      mode: config.mode === 'delta' ? 'delta' : 'bulk',
      ...(config.mode === 'delta' ? { delta: { prune: false } } : {}),
      ...(config.bandwidthLimit > 0 ? { bandwidthLimit: config.bandwidthLimit } : {}),
      dryRun: config.dryRun,
      exclude: [...config.exclude, ...literalExcludes(conflicts)],
      throwOnFailure: false,
    });
    out.push({ label: tree.label, dir: tree.dir, report, comparison, conflicts });
  }
  return out;
}

/** The trees of the newest backup of storage-path (or backup-id) that names several; else none. */
async function migrateTrees(config: MigrateConfig): Promise<StorageTree[]> {
  const dir = config.backupDir;
  if (!dir) return [];
  if (config.backupId) {
    const { record } = await findBackup(dir, config.backupId);
    if (path.resolve(record.storageDir) !== path.resolve(config.storagePath))
      throw new ConfigurationError(
        `Backup ${record.id} was taken of ${record.storageDir}, not of storage-path '${config.storagePath}'.`,
      );
    return recordTrees(record);
  }
  const listing = await listBackups(dir).catch((error: unknown) => {
    if (!existsSync(dir)) return undefined;
    throw error;
  });
  const own = listing?.complete.find(
    (r) => path.resolve(r.storageDir) === path.resolve(config.storagePath),
  );
  return own ? recordTrees(own) : [];
}
