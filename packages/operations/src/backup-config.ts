import os from 'node:os';
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
import { BackupInputs as Inputs } from './backup-inputs.js';
import { databaseUrlInput } from './targets.js';

export interface BackupConfig {
  preflightOnly: boolean;
  kube: KubeTarget;
  /** Default `<apiName>-0`, the StatefulSet's first pod. */
  apiPod: string;
  apiName: string;
  workerName: string;
  storageMountPath: string;
  /** The storage directory as the runner sees it; undefined = the hostPath found in the cluster. */
  storagePath?: string;
  backupDir: string;
  nodeName: string;
  freeSpaceMargin: number;
  compressionLevel: number;
  keep: number;
  offNode?: { s3: S3Target; prefix: string };
  /** The Dify database, for the data identity check of the storage directory (§6). */
  databaseUrl?: string;
}

export function readBackupConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): BackupConfig {
  return parseInputs(
    (p) => {
      const absolute = (name: string, value: string | undefined) => {
        if (value !== undefined && !path.isAbsolute(value)) {
          p.fail(`Input '${name}' must be an absolute path; got '${value}'.`);
        }
        return value;
      };
      const offNodeBucket = p.optional(Inputs.OffNodeBucket);
      const apiName = p.string(Inputs.ApiName, { default: 'dify-api', ...KUBE_NAME });
      return {
        preflightOnly: p.boolean(Inputs.PreflightOnly, { default: 'false' }),
        kube: parseKubeTarget(p),
        apiName,
        apiPod: p.optional(Inputs.ApiPod) ? p.string(Inputs.ApiPod, KUBE_NAME) : `${apiName}-0`,
        workerName: p.string(Inputs.WorkerName, { default: 'dify-worker', ...KUBE_NAME }),
        storageMountPath: absolute(
          Inputs.StorageMountPath,
          p.string(Inputs.StorageMountPath, { default: '/app/api/storage' }),
        )!,
        storagePath: p.storagePath(Inputs.StoragePath),
        backupDir: absolute(Inputs.BackupDir, p.string(Inputs.BackupDir))!,
        nodeName: p.optional(Inputs.NodeName) ?? env.NODE_NAME ?? os.hostname(),
        freeSpaceMargin: p.number(Inputs.FreeSpaceMargin, { default: '0.1', min: 0, max: 10 }),
        compressionLevel: p.integer(Inputs.CompressionLevel, { default: '3', min: 1, max: 19 }),
        keep: p.integer(Inputs.Keep, { default: '5', min: 1, max: 1000 }),
        databaseUrl: databaseUrlInput(p, Inputs.DatabaseUrl),
        ...(offNodeBucket
          ? {
              offNode: {
                s3: parseS3Target(p, env, { bucketInput: Inputs.OffNodeBucket }),
                prefix: p.string(Inputs.OffNodePrefix, { default: 'dify-storage-backups/' }),
              },
            }
          : {}),
      };
    },
    read,
    masker,
  );
}
