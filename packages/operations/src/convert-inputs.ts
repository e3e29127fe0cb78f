export const ConvertInputs = {
  PodEndpoint: 'pod-endpoint',
  Phase: 'phase',
  ApiName: 'api-name',
  WorkerName: 'worker-name',
  ConfigMap: 'config-map',
  SettingsSecret: 'settings-secret',
  SecretName: 'secret-name',
  StorageMountPath: 'storage-mount-path',
  StoragePath: 'storage-path',
  BackupId: 'backup-id',
  BackupDir: 'backup-dir',
  NoBackup: 'no-backup',
  DatabaseUrl: 'database-url',
  StateDir: 'state-dir',
  RolloutTimeout: 'rollout-timeout',
  LockTtl: 'lock-ttl',
  RunId: 'run-id',
  ApprovedPlanHash: 'approved-plan-hash',
  AllowVersion: 'allow-version',
  DifyAccessKeyId: 'dify-access-key-id',
  DifySecretAccessKey: 'dify-secret-access-key',
} as const;

export const ConvertOutputs = {
  MutationStarted: 'mutation-started',
  FreezeSeconds: 'freeze-seconds',
  PlanPath: 'plan-path',
  PlanHash: 'plan-hash',
  Changes: 'changes',
} as const;

export const PHASES = ['plan', 'freeze', 'apply', 'cutover'] as const;
