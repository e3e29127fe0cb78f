export { syncToBucket, type SyncToBucketOptions } from './sync-to-bucket.js';
export { type DeltaOptions, type DeltaScan } from './delta-prune.js';
export {
  S3Transport,
  type TransportOptions,
  type S3Op,
  type ObjectInfo,
  type HeadInfo,
} from './transport.js';
export { S3RequestError, SyncConfigError, SyncFailedError } from './errors.js';
export { checkTlsTrust, isCertificateError } from './tls.js';
export {
  formatSummary,
  formatProgress,
  formatDeltaScan,
  type SyncReport,
  type ProgressEvent,
  type FileFailure,
  type FileIssue,
} from './report.js';
export { compareKeys, s3KeyProblem, unsafeKeyReason } from './keys.js';
export { compileExcludes } from './glob.js';
export { walkTree, mtimeString, type WalkEntry } from './walk.js';
export { listAll } from './listing.js';
export { preflight as checkBucketReadable } from './preflight.js';
export { defaultConcurrency, type BucketOptions } from './options.js';
export {
  verifyBucket,
  formatVerifySummary,
  type BucketVerifyOptions,
  type BucketVerifyReport,
  type Difference,
} from './verify.js';
export { syncFromBucket, type SyncFromBucketOptions } from './sync-from-bucket.js';
export { loadManifest, md5Line, type ManifestRecord, type ManifestSource } from './manifest.js';
export { writeMd5List, readSyncRecords, lastCompleteCopy } from './state-export.js';
export { stateDirProblem } from './state.js';
export { publicExposure } from './bucket-exposure.js';
