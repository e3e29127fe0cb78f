import { writeJsonAtomic } from '@dify-storage/common';
import {
  formatProgress,
  formatSummary,
  formatVerifySummary,
  syncToBucket,
  verifyBucket,
  type SyncReport,
  type BucketVerifyReport,
} from '@dify-storage/sync';
import type { S3Target } from '@dify-storage/s3';
import { checkStorageIdentity } from './identity.js';
import { fixUpKeys, formatKeyFixUp, isFixUpKey, type KeyFixUpReport } from './key-fixup.js';
import { progressOf, type Logger } from './logger.js';
import type { MigrateConfig } from './migrate-config.js';
import { lockStateDir } from './state-lock.js';

const READ_BACK_FRACTION = { none: 0, sample: 0.01, all: 1 } as const;

export type MigrateResult =
  | {
      mode: 'bulk' | 'delta';
      report: SyncReport;
      /** The second step, with a database URL: keys whose fs path differs, put verbatim. */
      keyFixUp?: KeyFixUpReport;
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
  await writeJsonAtomic(config.reportPath, { ...report, ...(keyFixUp ? { keyFixUp } : {}) });
  const text = [formatSummary(report), ...(keyFixUp ? [formatKeyFixUp(keyFixUp)] : [])].join('\n');
  return {
    mode: config.mode,
    report,
    ...(keyFixUp ? { keyFixUp } : {}),
    text,
    reportPath: config.reportPath,
  };
}
