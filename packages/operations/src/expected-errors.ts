import { BackupError } from '@dify-storage/backup';
import { KubeApiError, KubeStateError, LockHeldError } from '@dify-storage/kube';
import { S3RequestError, SyncConfigError, SyncFailedError } from '@dify-storage/sync';

/**
 * Errors the libraries raise about the user's system or inputs (no room, wrong node, lock held,
 * 422 from the API server, files that failed to copy): reported by their message alone. Anything
 * else is a bug and is reported with its stack.
 */
export const EXPECTED_ERRORS: (abstract new (...args: never[]) => Error)[] = [
  BackupError,
  KubeApiError,
  KubeStateError,
  LockHeldError,
  S3RequestError,
  SyncConfigError,
  SyncFailedError,
];
