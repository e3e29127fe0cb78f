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
import { RollbackInputs as Inputs } from './rollback-inputs.js';
import { stateDirInput } from './targets.js';

export interface RollbackConfig {
  backupId?: string;
  backupDir: string;
  storagePath?: string;
  /** migrate-to-s3's state directory: its records spare the copy back reading restored files. */
  stateDir: string;
  kube: KubeTarget;
  apiName: string;
  workerName: string;
  s3: S3Target;
  difyUrl?: string;
  difySecretKey?: string;
  databaseUrl?: string;
  rolloutTimeoutSeconds: number;
  runId: string;
  reportPath: string;
}

export function readRollbackConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): RollbackConfig {
  return parseInputs(
    (p) => {
      const backupId = p.optional(Inputs.BackupId);
      if (backupId !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(backupId)) {
        p.fail(
          `Input '${Inputs.BackupId}' has the value '${backupId}', which is not a backup id (letters, digits, '.', '_', '-').`,
        );
      }
      const storagePath = p.storagePath(Inputs.StoragePath);
      const difyUrl = p.optional(Inputs.DifyUrl) === undefined ? undefined : p.url(Inputs.DifyUrl);
      const backupDir = p.string(Inputs.BackupDir);
      return {
        ...(backupId ? { backupId } : {}),
        backupDir,
        ...(storagePath ? { storagePath } : {}),
        stateDir: stateDirInput(p, Inputs.StateDir, storagePath),
        kube: parseKubeTarget(p),
        apiName: p.string(Inputs.ApiName, { default: 'dify-api', ...KUBE_NAME }),
        workerName: p.string(Inputs.WorkerName, { default: 'dify-worker', ...KUBE_NAME }),
        s3: parseS3Target(p, env),
        difyUrl,
        difySecretKey: p.secret(Inputs.DifySecretKey),
        databaseUrl: p.secret(Inputs.DatabaseUrl),
        rolloutTimeoutSeconds: p.integer(Inputs.RolloutTimeout, {
          default: '600',
          min: 10,
          max: 86_400,
        }),
        runId:
          p.optional(Inputs.RunId) ??
          (env.GITHUB_RUN_ID
            ? `github-run-${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}`
            : `local-${process.pid}`),
        reportPath: p.string(Inputs.ReportPath, {
          default: path.join(env.RUNNER_TEMP ?? backupDir, 'rollback-report.json'),
        }),
      };
    },
    read,
    masker,
  );
}
