import { randomBytes } from 'node:crypto';
import { DifyApi, readStorageReferences } from '@dify-storage/dify';
import { createS3Client, type S3Settings } from '@dify-storage/s3';
import { checkReferences, type ReadBack } from './database-check.js';
import {
  checkHealth,
  checkLatency,
  checkReadPath,
  checkWorkerPath,
  checkWritePath,
  cleanupWriteProbe,
  type ProbeContext,
  type WriteProbe,
} from './probes.js';
import {
  runStage,
  skipped,
  verdictOf,
  type StageName,
  type StageResult,
  type VerifyReport,
} from './report.js';

type Outcome = Omit<StageResult, 'stage' | 'durationMs'>;

export interface VerifyOptions {
  s3: S3Settings;
  bucket: string;
  difyUrl?: string;
  appApiKey?: string;
  datasetApiKey?: string;
  difySecretKey?: string;
  databaseUrl?: string;
  /** The source tree (hostPath): references with no file there were broken before the migration. */
  storagePath?: string;
  readBack: ReadBack;
  latencyThresholdMs: number;
  expectedVersion: string;
  indexingTimeoutSeconds: number;
  runId?: string;
  /** Stage 1, supplied by the caller that can reach the cluster. */
  checkWorkloads?: () => Promise<Outcome>;
  /** Stage 2, supplied by the caller that has the manifest and the sync engine. */
  checkStoredFiles?: () => Promise<Outcome>;
  /** Stages the operator skips on purpose: their skipping does not make the verdict incomplete. */
  allowedSkips?: readonly StageName[];
  /** Called after each stage, for progress lines. */
  onStage?: (result: StageResult) => void;
}

/**
 * Proves each stage of Dify's data flow on the new storage, in the order data moves, and says
 * which one failed. Probes clean up after themselves; a probe without its credentials is
 * reported as skipped, never as passed.
 */
export async function verifyDify(o: VerifyOptions): Promise<VerifyReport & { cleanup: string[] }> {
  const startedAt = new Date().toISOString();
  const client = createS3Client(o.s3);
  const ctx: ProbeContext = {
    client,
    bucket: o.bucket,
    runId: o.runId ?? `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
    ...(o.difyUrl ? { api: new DifyApi(o.difyUrl) } : {}),
  };
  const stages: StageResult[] = [];
  const cleanup: string[] = [];
  let probe: WriteProbe | undefined;
  const stage = async (name: StageResult['stage'], check: () => Promise<Outcome>) => {
    const result = await runStage(name, check);
    stages.push(result);
    o.onStage?.(result);
  };
  try {
    await stage('workloads', o.checkWorkloads ?? (async () => skipped('no cluster access given')));
    await stage(
      'stored-files',
      o.checkStoredFiles ?? (async () => skipped("no 'manifest-path' given")),
    );
    await stage('database-references', async () => {
      if (!o.databaseUrl) return skipped("no 'database-url' given");
      const { status, summary, ...evidence } = await checkReferences({
        client,
        bucket: o.bucket,
        references: readStorageReferences(o.databaseUrl),
        ...(o.storagePath ? { storagePath: o.storagePath } : {}),
        readBack: o.readBack,
      });
      return { status, summary, evidence };
    });
    await stage('dify-health', () => checkHealth(ctx, o.expectedVersion));
    await stage('write-path', () =>
      checkWritePath(ctx, o.appApiKey, o.databaseUrl, (p) => (probe = p)),
    );
    await stage('read-path', () => checkReadPath(ctx, o.difySecretKey, probe));
    await stage('worker-path', () =>
      checkWorkerPath(ctx, o.datasetApiKey, o.indexingTimeoutSeconds),
    );
    await stage('storage-latency', () => checkLatency(ctx, o.latencyThresholdMs));
  } finally {
    if (probe)
      cleanup.push(
        ...(await cleanupWriteProbe(ctx, o.databaseUrl, probe).catch((e: Error) => [
          `probe cleanup failed: ${e.message}`,
        ])),
      );
    client.destroy();
  }
  return {
    ...verdictOf(stages, o.allowedSkips),
    startedAt,
    finishedAt: new Date().toISOString(),
    bucket: o.bucket,
    stages,
    cleanup,
  };
}
