export const MigrateInputs = {
  StoragePath: 'storage-path',
  Mode: 'mode',
  Concurrency: 'concurrency',
  BandwidthLimit: 'bandwidth-limit',
  Exclude: 'exclude',
  DryRun: 'dry-run',
  StateDir: 'state-dir',
  ReadBack: 'read-back',
  ManifestPath: 'manifest-path',
  ReportPath: 'report-path',
  DatabaseUrl: 'database-url',
  BackupDir: 'backup-dir',
  BackupId: 'backup-id',
} as const;

export const MigrateOutputs = {
  Copied: 'copied',
  Skipped: 'skipped',
  Failed: 'failed',
  Bytes: 'bytes',
  ReportPath: 'report-path',
} as const;

export const MODES = ['bulk', 'delta', 'verify'] as const;
export const READ_BACK = ['none', 'sample', 'all'] as const;
