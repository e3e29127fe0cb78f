export const VerifyInputs = {
  PodEndpoint: 'pod-endpoint',
  ApiName: 'api-name',
  WorkerName: 'worker-name',
  DifyUrl: 'dify-url',
  AppApiKey: 'app-api-key',
  DatasetApiKey: 'dataset-api-key',
  DifySecretKey: 'dify-secret-key',
  DatabaseUrl: 'database-url',
  ManifestPath: 'manifest-path',
  StoragePath: 'storage-path',
  ReadBack: 'read-back',
  LatencyThresholdMs: 'latency-threshold-ms',
  ExpectedVersion: 'expected-version',
  IndexingTimeout: 'indexing-timeout',
  SkipStages: 'skip-stages',
  StateDir: 'state-dir',
  ReportPath: 'report-path',
} as const;

export const VerifyOutputs = {
  Verdict: 'verdict',
  FailedStages: 'failed-stages',
  ReportPath: 'report-path',
} as const;
