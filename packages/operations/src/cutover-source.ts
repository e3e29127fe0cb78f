import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { BlockedError, ConfigurationError } from '@dify-storage/action-kit';
import { findBackup } from '@dify-storage/backup';
import { listAll, S3Transport, walkTree } from '@dify-storage/sync';
import type { InstallInspection } from '@dify-storage/kube';
import type { ConvertConfig } from './convert-config.js';
import { isFixUpKey } from './key-fixup.js';
import { requireCompleteSnapshot } from './record-check.js';
import { hasSeveralTrees, locateTrees, recordTrees, type StorageTree } from './tree-compare.js';

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
  roots: string[],
): Promise<void> {
  let files = 0;
  for (const root of roots) for await (const e of walkTree(root)) if (e.kind === 'file') files += 1;
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
      `The storage path${roots.length > 1 ? 's' : ''} '${roots.join("', '")}' hold${roots.length > 1 ? '' : 's'} ${files} file(s), but bucket "${config.s3.bucket}" already holds ${objects} object(s): a source with less than ${MIN_SOURCE_SHARE * 100}% of them is not the tree the bucket was copied from. Nothing was changed.`,
    );
  }
}

/**
 * Every storage tree the final delta copy reads, `source` first: the backup's (a backup of an
 * install with several trees names them all), else those this runner finds. A backup holding one
 * tree of an install that has several is refused: a rollback could not give the others back.
 */
export async function cutoverTrees(
  config: ConvertConfig,
  inspection: InstallInspection,
  source: string,
): Promise<StorageTree[]> {
  if (config.backup) {
    const { record } = await findBackup(config.backup.dir, config.backup.id);
    const trees = recordTrees(record);
    if (trees.length === 1 && hasSeveralTrees(inspection)) {
      throw new BlockedError(
        `Backup ${record.id} holds one storage tree, but the install keeps its files in several (api, worker or ordinals on volumes of their own): take a new backup, which takes them all. Nothing was changed.`,
      );
    }
    for (const t of trees.slice(1)) {
      const st = await lstat(t.dir).catch(() => undefined);
      if (!st?.isDirectory())
        throw new ConfigurationError(
          `${t.label}'s storage tree ${t.dir} (backup ${record.id}) is not a directory on this runner: run the cutover where the backup ran. Nothing was changed.`,
        );
    }
    return trees;
  }
  if (!hasSeveralTrees(inspection))
    return [{ label: config.apiName, slug: config.apiName, volume: '', dir: source }];
  const { trees, problems } = await locateTrees(inspection, source);
  if (problems.length) throw new ConfigurationError(`${problems.join(' ')} Nothing was changed.`);
  return trees;
}
