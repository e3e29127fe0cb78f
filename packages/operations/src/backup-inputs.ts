export const BackupInputs = {
  PreflightOnly: 'preflight-only',
  ApiPod: 'api-pod',
  ApiName: 'api-name',
  WorkerName: 'worker-name',
  StorageMountPath: 'storage-mount-path',
  StoragePath: 'storage-path',
  BackupDir: 'backup-dir',
  NodeName: 'node-name',
  FreeSpaceMargin: 'free-space-margin',
  CompressionLevel: 'compression-level',
  Keep: 'keep',
  OffNodeBucket: 'off-node-bucket',
  OffNodePrefix: 'off-node-prefix',
  DatabaseUrl: 'database-url',
} as const;

export const BackupOutputs = {
  BackupId: 'backup-id',
  RecordPath: 'record-path',
  ArchivePath: 'archive-path',
  ManifestPath: 'manifest-path',
  Files: 'files',
  Bytes: 'bytes',
  ArchiveBytes: 'archive-bytes',
  SnapshotPath: 'snapshot-path',
} as const;
