import path from 'node:path';
import {
  KUBE_NAME,
  parseInputs,
  type InputReader,
  type SecretMasker,
  parseKubeTarget,
  parseS3Target,
  type KubeTarget,
} from '@dify-storage/action-kit';
import type { S3Target } from '@dify-storage/s3';
import { STAGES, type StageName } from '@dify-storage/verify';
import { READ_BACK } from './migrate-inputs.js';
import { databaseUrlInput, DEFAULT_STATE_DIR } from './targets.js';
import { VerifyInputs as Inputs } from './verify-inputs.js';

export interface VerifyConfig {
  /** The S3 endpoint as Dify's pods reach it, when it differs from the runner's (`s3.endpoint`). */
  podEndpoint?: string;
  kube: KubeTarget;
  apiName: string;
  workerName: string;
  s3: S3Target;
  difyUrl?: string;
  appApiKey?: string;
  datasetApiKey?: string;
  difySecretKey?: string;
  databaseUrl?: string;
  manifestPath?: string;
  /** The source tree (hostPath), to tell references broken before the migration from failures. */
  storagePath?: string;
  readBack: (typeof READ_BACK)[number];
  latencyThresholdMs: number;
  expectedVersion: string;
  indexingTimeoutSeconds: number;
  /** Stages skipped on purpose (`skip-stages`): they do not make the verdict incomplete. */
  allowedSkips: StageName[];
  reportPath: string;
}

export function readVerifyConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): VerifyConfig {
  return parseInputs(
    (p) => {
      const difyUrl = p.optional(Inputs.DifyUrl) === undefined ? undefined : p.url(Inputs.DifyUrl);
      const databaseUrl = databaseUrlInput(p, Inputs.DatabaseUrl);
      const storagePath = p.storagePath(Inputs.StoragePath);
      return {
        kube: parseKubeTarget(p),
        apiName: p.string(Inputs.ApiName, { default: 'dify-api', ...KUBE_NAME }),
        workerName: p.string(Inputs.WorkerName, { default: 'dify-worker', ...KUBE_NAME }),
        s3: parseS3Target(p, env),
        ...(p.optional(Inputs.PodEndpoint) ? { podEndpoint: p.url(Inputs.PodEndpoint) } : {}),
        difyUrl,
        appApiKey: p.secret(Inputs.AppApiKey),
        datasetApiKey: p.secret(Inputs.DatasetApiKey),
        difySecretKey: p.secret(Inputs.DifySecretKey),
        databaseUrl,
        manifestPath: p.optional(Inputs.ManifestPath),
        storagePath,
        readBack: p.choice(Inputs.ReadBack, READ_BACK, { default: 'none' }),
        latencyThresholdMs: p.integer(Inputs.LatencyThresholdMs, {
          default: '500',
          min: 1,
          max: 600_000,
        }),
        expectedVersion: p.string(Inputs.ExpectedVersion, { default: '1.3.0' }),
        indexingTimeoutSeconds: p.integer(Inputs.IndexingTimeout, {
          default: '300',
          min: 5,
          max: 86_400,
        }),
        allowedSkips: p.list(Inputs.SkipStages).filter((s): s is StageName => {
          if ((STAGES as readonly string[]).includes(s)) return true;
          p.fail(
            `Input '${Inputs.SkipStages}' names '${s}', which is not a stage; stages are: ${STAGES.join(', ')}.`,
          );
          return false;
        }),
        reportPath: p.string(Inputs.ReportPath, {
          default: path.join(
            env.RUNNER_TEMP ?? p.string(Inputs.StateDir, { default: DEFAULT_STATE_DIR }),
            'verify-dify-report.json',
          ),
        }),
      };
    },
    read,
    masker,
  );
}
