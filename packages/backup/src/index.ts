export { createBackup, type CreateBackupOptions, type CreateBackupResult } from './create.js';
export { BackupError, BackupVerificationError, type BackupDifference } from './errors.js';
export {
  formatMode,
  ManifestReader,
  parseMode,
  sha256sumLine,
  type ManifestDir,
  type ManifestFile,
  type ManifestRecord,
  type ManifestSkipped,
} from './manifest.js';
export { moveAside } from './move-aside.js';
export { assertValidBackupId, backupFileNames, makeBackupId, utcStamp } from './naming.js';
export {
  copyOffNode,
  type CopyOffNodeOptions,
  type CopyOffNodeResult,
  type OffNodeObject,
  type OffNodeUploader,
} from './off-node.js';
export { comparePaths } from './path-order.js';
export { preflightBackup, type PreflightOptions, type PreflightReport } from './preflight.js';
export { type BackupProgress, type ProgressCallback } from './progress.js';
export {
  applyRetention,
  backupFiles,
  findBackup,
  KUBERNETES_DIR_SUFFIX,
  latestBackup,
  listBackups,
  RECORD_FORMAT,
  resolveBackupFile,
  sha256File,
  type BackupFileRef,
  type BackupListing,
  type BackupRecord,
  type FindBackupOptions,
  type IncompleteBackup,
  type KubernetesSnapshot,
  type KubernetesSnapshotObject,
  type LatestBackupOptions,
  type LocatedBackup,
  type RetentionOptions,
  type RetentionResult,
  type StorageTreeRecord,
} from './record.js';
export { restoreBackup, type RestoreBackupOptions, type RestoreBackupResult } from './restore.js';
export { verifyBackup, type VerifyBackupOptions, type VerifyBackupResult } from './verify.js';
export { TOOL_VERSION } from './version.js';
export { SKIP_REASON_TEXT, walkTree, type SkipReason, type WalkEntry } from './walk.js';
