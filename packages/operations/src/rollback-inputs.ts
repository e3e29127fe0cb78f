export const RollbackInputs = {
  BackupId: 'backup-id',
  BackupDir: 'backup-dir',
  StoragePath: 'storage-path',
  StateDir: 'state-dir',
  ApiName: 'api-name',
  WorkerName: 'worker-name',
  DifyUrl: 'dify-url',
  DifySecretKey: 'dify-secret-key',
  DatabaseUrl: 'database-url',
  RolloutTimeout: 'rollout-timeout',
  RunId: 'run-id',
  ReportPath: 'report-path',
} as const;

export const RollbackOutputs = {
  BackupId: 'backup-id',
  RestoredFiles: 'restored-files',
  CopiedBack: 'copied-back',
  Refused: 'refused',
  DowntimeSeconds: 'downtime-seconds',
  ReportPath: 'report-path',
} as const;
