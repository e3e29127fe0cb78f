import {
  KUBE_NAME,
  parseInputs,
  type InputParser,
  type InputReader,
  type SecretMasker,
  parseKubeTarget,
  parseS3Target,
  type KubeTarget,
} from '@dify-storage/action-kit';
import type { DifyS3Keys } from '@dify-storage/kube';
import type { S3Target } from '@dify-storage/s3';
import { ConvertInputs as Inputs, PHASES } from './convert-inputs.js';
import { databaseUrlInput, stateDirInput } from './targets.js';
import { PLAN_HASH } from './plan-hash.js';

export interface ConvertConfig {
  /** The S3 endpoint as Dify's pods reach it, when it differs from the runner's (`s3.endpoint`). */
  podEndpoint?: string;
  phase: (typeof PHASES)[number];
  kube: KubeTarget;
  apiName: string;
  workerName: string;
  configMap?: string;
  /** The operator's Secret holding storage settings: the cutover writes the S3 ones there. */
  settingsSecret?: string;
  /** Dify versions other than 1.3.x the cutover may convert (image tags). */
  allowVersions?: string[];
  secretName: string;
  storageMountPath: string;
  storagePath?: string;
  /** cutover: the backup taken before it, whose storage directory the delta copy reads. */
  backup?: { id: string; dir: string };
  /** cutover: to prove the source is the storage the pods see (data identity). */
  databaseUrl?: string;
  s3: S3Target;
  /**
   * The static keys the cutover writes into Dify's Secret: `dify-access-key-id`/`dify-secret-access-key`,
   * else the suite's own static keys. Undefined when neither exists (the suite's come from the
   * AWS chain or are temporary): Dify 1.3.0 has no session-token setting and its IAM mode
   * ignores S3_ENDPOINT, so the plan blocks (`difyKeysMissing` says why).
   */
  difyKeys?: DifyS3Keys;
  difyKeysMissing?: string;
  stateDir: string;
  rolloutTimeoutSeconds: number;
  lockTtlSeconds: number;
  runId: string;
  /** cutover: the plan hash that was approved; the cutover refuses a cluster that drifted from it. */
  approvedPlanHash?: string;
}

export function readConvertConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): ConvertConfig {
  return parseInputs(
    (p) => {
      const phase = p.choice(Inputs.Phase, PHASES);
      const storagePath = p.storagePath(Inputs.StoragePath);
      const backupId = p.optional(Inputs.BackupId);
      const noBackup = p.boolean(Inputs.NoBackup, { default: 'false' });
      if (phase === 'cutover' && backupId === undefined && !noBackup) {
        p.fail(
          `Phase 'cutover' needs the backup taken before it: set '${Inputs.BackupId}' (and '${Inputs.BackupDir}'), or '${Inputs.NoBackup}' to go on without one (no rollback will be possible).`,
        );
      }
      if (phase === 'cutover' && noBackup && storagePath === undefined) {
        p.fail(
          `Input '${Inputs.StoragePath}' is required for phase 'cutover' without a backup (the final delta copy reads it).`,
        );
      }
      const configMap = p.optional(Inputs.ConfigMap);
      return {
        phase,
        kube: parseKubeTarget(p),
        apiName: p.string(Inputs.ApiName, { default: 'dify-api', ...KUBE_NAME }),
        workerName: p.string(Inputs.WorkerName, { default: 'dify-worker', ...KUBE_NAME }),
        ...(configMap ? { configMap: p.string(Inputs.ConfigMap, KUBE_NAME) } : {}),
        ...(p.optional(Inputs.SettingsSecret)
          ? { settingsSecret: p.string(Inputs.SettingsSecret, KUBE_NAME) }
          : {}),
        secretName: p.string(Inputs.SecretName, { default: 'dify-s3-credentials', ...KUBE_NAME }),
        ...(p.list(Inputs.AllowVersion).length
          ? { allowVersions: p.list(Inputs.AllowVersion) }
          : {}),
        storageMountPath: p.string(Inputs.StorageMountPath, { default: '/app/api/storage' }),
        ...(storagePath ? { storagePath } : {}),
        ...(backupId && phase === 'cutover' && !noBackup
          ? {
              backup: {
                id: backupId,
                dir: p.string(Inputs.BackupDir, { default: '/var/backups/dify-storage' }),
              },
            }
          : {}),
        databaseUrl: databaseUrlInput(p, Inputs.DatabaseUrl),
        ...s3AndDifyKeys(p, env),
        ...(p.optional(Inputs.PodEndpoint) ? { podEndpoint: p.url(Inputs.PodEndpoint) } : {}),
        stateDir: stateDirInput(p, Inputs.StateDir, storagePath),
        rolloutTimeoutSeconds: p.integer(Inputs.RolloutTimeout, {
          default: '600',
          min: 10,
          max: 86_400,
        }),
        lockTtlSeconds: p.integer(Inputs.LockTtl, { default: '3600', min: 60, max: 604_800 }),
        ...(p.optional(Inputs.ApprovedPlanHash)
          ? {
              approvedPlanHash: p.string(Inputs.ApprovedPlanHash, {
                pattern: PLAN_HASH,
                describe: 'a plan hash (ph- and 24 hex digits, the plan-hash output of the plan)',
              }),
            }
          : {}),
        runId:
          p.optional(Inputs.RunId) ??
          (env.GITHUB_RUN_ID
            ? `github-run-${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}`
            : `local-${process.pid}`),
      };
    },
    read,
    masker,
  );
}

/** The suite's S3 target and the keys for Dify's Secret (see ConvertConfig.difyKeys). */
function s3AndDifyKeys(
  p: InputParser,
  env: NodeJS.ProcessEnv,
): Pick<ConvertConfig, 's3' | 'difyKeys' | 'difyKeysMissing'> {
  const s3 = parseS3Target(p, env);
  const accessKey = p.secret(Inputs.DifyAccessKeyId);
  const secretKey = p.secret(Inputs.DifySecretAccessKey);
  p.mask(secretKey);
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    p.fail(
      `Give both '${Inputs.DifyAccessKeyId}' and '${Inputs.DifySecretAccessKey}', or neither.`,
    );
  }
  return { s3, ...difyKeysOf(s3, accessKey && secretKey ? { accessKey, secretKey } : undefined) };
}

/** The keys given for Dify, else the suite's own when they are static and lasting. */
export function difyKeysOf(
  s3: S3Target,
  given?: DifyS3Keys,
): Pick<ConvertConfig, 'difyKeys' | 'difyKeysMissing'> {
  if (given) return { difyKeys: given };
  const own = s3.credentials;
  if (typeof own !== 'function' && !own.sessionToken) {
    return { difyKeys: { accessKey: own.accessKeyId, secretKey: own.secretAccessKey } };
  }
  const why =
    typeof own === 'function'
      ? "the suite's own credentials come from the AWS credential chain"
      : "the suite's own keys are temporary (AWS_SESSION_TOKEN) and would stop working when they expire";
  return {
    difyKeysMissing: `Dify needs static S3 keys for its Secret and ${why}: set '${Inputs.DifyAccessKeyId}' and '${Inputs.DifySecretAccessKey}' (Dify 1.3.0 has no session-token setting, and its IAM mode ignores S3_ENDPOINT).`,
  };
}
