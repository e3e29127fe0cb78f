import { writeJsonAtomic } from '@dify-storage/common';
import { checkTlsTrust, verifyBucket } from '@dify-storage/sync';
import { verifyDify, type StageResult, type VerifyReport } from '@dify-storage/verify';
import { isFixUpKey } from './key-fixup.js';
import type { Logger } from './logger.js';
import { kubeClient } from './targets.js';
import type { VerifyConfig } from './verify-config.js';
import { checkWorkloads } from './workloads-check.js';

const READ_BACK_FRACTION = { none: 0, sample: 0.01, all: 1 } as const;

export type VerifyRunResult = VerifyReport & { cleanup: string[]; reportPath: string };

/** Why a verdict is incomplete, and how to make it whole (for the CLI and the action alike). */
export function incompleteMessage(report: VerifyReport): string {
  const why = report.stages
    .filter((s) => report.unproved.includes(s.stage))
    .map((s) => `${s.stage} (${s.summary})`)
    .join('; ');
  return `verdict incomplete: nothing failed, but ${report.unproved.length} stage(s) were skipped: ${why}. Supply their inputs, or name them in skip-stages to skip them on purpose.`;
}

/** verify-dify: every stage of the data flow on the new storage, with the report written. */
export async function runVerify(config: VerifyConfig, log: Logger): Promise<VerifyRunResult> {
  // A certificate the runner cannot trust would fail every S3 stage: refuse once, by name.
  if (config.s3.endpoint) await checkTlsTrust(config.s3.endpoint, config.s3.caBundle);
  const client = kubeClient(config.kube);
  const report = await verifyDify({
    s3: config.s3,
    bucket: config.s3.bucket,
    ...(config.difyUrl ? { difyUrl: config.difyUrl } : {}),
    ...(config.appApiKey ? { appApiKey: config.appApiKey } : {}),
    ...(config.datasetApiKey ? { datasetApiKey: config.datasetApiKey } : {}),
    ...(config.difySecretKey ? { difySecretKey: config.difySecretKey } : {}),
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    ...(config.storagePath ? { storagePath: config.storagePath } : {}),
    readBack: config.readBack,
    allowedSkips: config.allowedSkips,
    latencyThresholdMs: config.latencyThresholdMs,
    expectedVersion: config.expectedVersion,
    indexingTimeoutSeconds: config.indexingTimeoutSeconds,
    checkWorkloads: () =>
      checkWorkloads({
        client,
        namespace: config.kube.namespace,
        names: [config.apiName, config.workerName],
        ...((config.podEndpoint ?? config.s3.endpoint)
          ? { endpoint: config.podEndpoint ?? config.s3.endpoint }
          : {}),
        bucket: config.s3.bucket,
      }),
    ...(config.manifestPath
      ? {
          checkStoredFiles: async () => {
            const r = await verifyBucket({
              target: config.s3,
              manifest: config.manifestPath!,
              readBack: READ_BACK_FRACTION[config.readBack],
              // Objects the key fix-up put at keys that are not their own fs path.
              accountedElsewhere: isFixUpKey,
            });
            const evidence = { counts: r.counts, differences: r.differences.slice(0, 100) };
            const c = r.counts;
            const problems = c.missing + c.size + c.hash + c.errors;
            // Objects Dify wrote after the cutover are extra, not a failure: name a real one.
            const first = r.differences.find((d) => d.kind !== 'extra');
            return problems > 0
              ? {
                  status: 'fail' as const,
                  summary: `${c.missing} missing, ${c.size} of another size, ${c.hash} with another hash among ${c.files} manifest files; first: ${first?.path} (${first?.detail})`,
                  evidence,
                }
              : {
                  status: 'pass' as const,
                  summary: `all ${c.files} manifest files in the bucket with the same size and hash (${c.readBack} read back)`,
                  evidence,
                };
          },
        }
      : {}),
    onStage: (s: StageResult) =>
      log.info(`${s.status.toUpperCase().padEnd(7)} ${s.stage}: ${s.summary}`),
  });
  await writeJsonAtomic(config.reportPath, report);
  return { ...report, reportPath: config.reportPath };
}
