import path from 'node:path';
import { ConfigurationError } from '@dify-storage/action-kit';
import { findBackup } from '@dify-storage/backup';
import { listAll, S3Transport, walkTree } from '@dify-storage/sync';
import type { ConvertConfig } from './convert-config.js';
import { isFixUpKey } from './key-fixup.js';
import { requireCompleteSnapshot } from './record-check.js';

/** Below this share of the bucket's objects, the source is not the tree the bucket was copied from. */
const MIN_SOURCE_SHARE = 0.9;

/**
 * The directory the final delta copy reads: the one the backup was taken of (a cutover from
 * another directory would copy nothing and lose what was written since the bulk copy). Refuses
 * an incomplete backup, and an explicit storage path that is not the backup's.
 */
export async function cutoverSource(config: ConvertConfig): Promise<string> {
  if (!config.backup) return config.storagePath!;
  const { record } = await findBackup(config.backup.dir, config.backup.id);
  requireCompleteSnapshot(
    `Backup ${record.id}`,
    record.kubernetes.objects,
    config.apiName,
    config.workerName,
  );
  if (record.namespace && record.namespace !== config.kube.namespace) {
    throw new ConfigurationError(
      `Backup ${record.id} is of namespace ${record.namespace}, not ${config.kube.namespace}.`,
    );
  }
  if (config.storagePath && path.resolve(config.storagePath) !== path.resolve(record.storageDir)) {
    throw new ConfigurationError(
      `The storage path '${config.storagePath}' is not the directory backup ${record.id} was taken of ('${record.storageDir}'): the final delta copy must read the same tree. Leave storage-path empty to use it.`,
    );
  }
  return record.storageDir;
}

/**
 * The source must hold at least 90% of the objects the bucket already holds (the bulk copy put
 * them there from this tree): fewer means another directory, or a tree that lost its files.
 */
export async function requireSourceCoversBucket(
  config: ConvertConfig,
  root: string,
): Promise<void> {
  let files = 0;
  for await (const e of walkTree(root)) if (e.kind === 'file') files += 1;
  const transport = new S3Transport(config.s3);
  let objects = 0;
  try {
    // The key fix-up's copies (keys that are not their own fs path) have no file of their own.
    for await (const o of listAll(transport, '')) if (o && !isFixUpKey(o.key)) objects += 1;
  } finally {
    transport.close();
  }
  if (files < MIN_SOURCE_SHARE * objects) {
    throw new ConfigurationError(
      `The storage path '${root}' holds ${files} file(s), but bucket "${config.s3.bucket}" already holds ${objects} object(s): a source with less than ${MIN_SOURCE_SHARE * 100}% of them is not the tree the bucket was copied from. Nothing was changed.`,
    );
  }
}
