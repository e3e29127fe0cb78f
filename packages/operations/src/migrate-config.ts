import path from 'node:path';
import {
  parseInputs,
  parseS3Target,
  type InputReader,
  type SecretMasker,
} from '@dify-storage/action-kit';
import type { S3Target } from '@dify-storage/s3';
import { MigrateInputs as Inputs, MODES, READ_BACK } from './migrate-inputs.js';
import { databaseUrlInput, stateDirInput } from './targets.js';

export interface MigrateConfig {
  s3: S3Target;
  storagePath: string;
  mode: (typeof MODES)[number];
  /** 0 = automatic. */
  concurrency: number;
  /** Bytes per second the copy may send, all transfers together; 0 = no limit. */
  bandwidthLimit: number;
  exclude: string[];
  dryRun: boolean;
  stateDir: string;
  readBack: (typeof READ_BACK)[number];
  manifestPath?: string;
  reportPath: string;
  /** The Dify database: the data identity check before the bulk copy (§6), the key fix-up after the tree copy. */
  databaseUrl?: string;
  /**
   * Where the backups are: the newest backup of storage-path (or `backupId`) that names several
   * storage trees (shapes 3 and 4) makes the copy take every one of them.
   */
  backupDir?: string;
  backupId?: string;
}

export function readMigrateConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): MigrateConfig {
  return parseInputs(
    (p) => {
      const storagePath = p.storagePath(Inputs.StoragePath, { required: true }) ?? '';
      const stateDir = stateDirInput(p, Inputs.StateDir, storagePath);
      return {
        s3: parseS3Target(p, env),
        storagePath,
        mode: p.choice(Inputs.Mode, MODES, { default: 'bulk' }),
        concurrency: p.integer(Inputs.Concurrency, { default: '0', min: 0, max: 1024 }),
        bandwidthLimit: p.bytesPerSecond(Inputs.BandwidthLimit, { default: '0' }),
        exclude: p.list(Inputs.Exclude),
        dryRun: p.boolean(Inputs.DryRun, { default: 'false' }),
        stateDir,
        readBack: p.choice(Inputs.ReadBack, READ_BACK, { default: 'none' }),
        manifestPath: p.optional(Inputs.ManifestPath),
        databaseUrl: databaseUrlInput(p, Inputs.DatabaseUrl),
        backupDir: p.string(Inputs.BackupDir, { default: '/var/backups/dify-storage' }),
        backupId: p.optional(Inputs.BackupId),
        reportPath: p.string(Inputs.ReportPath, {
          default: path.join(env.RUNNER_TEMP ?? stateDir, 'migrate-to-s3-report.json'),
        }),
      };
    },
    read,
    masker,
  );
}
