import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  copyOffNode,
  createBackup,
  type CreateBackupResult,
  type OffNodeUploader,
} from '@dify-storage/backup';
import { removeDir, tempDir } from './helpers.js';

/** An uploader into a local directory (the real one, over the sync engine, lives elsewhere). */
function directoryUploader(
  root: string,
  options: { corruptKey?: string } = {},
): OffNodeUploader & { keys: string[] } {
  const keys: string[] = [];
  const hashOf = async (path: string) => {
    const data = await readFile(path);
    return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  };
  return {
    keys,
    async putFile(localPath, key) {
      const dest = join(root, key);
      await mkdir(join(dest, '..'), { recursive: true });
      await copyFile(localPath, dest);
      keys.push(key);
      if (key === options.corruptKey) await writeFile(dest, 'bit rot');
      return hashOf(localPath);
    },
    async verify(key, expected) {
      const stored = await hashOf(join(root, key));
      return stored.bytes === expected.bytes && stored.sha256 === expected.sha256;
    },
  };
}

describe('copyOffNode', () => {
  let work: string;
  let backup: CreateBackupResult;

  beforeAll(async () => {
    work = await tempDir('offnode');
    await mkdir(join(work, 'storage/upload_files'), { recursive: true });
    await writeFile(join(work, 'storage/upload_files/a.pdf'), 'pdf bytes');
    const id = 'b-20261127T120000Z-0ff0de';
    const snapshot = join(work, 'backups', `${id}.kubernetes`);
    await mkdir(join(snapshot, 'raw'), { recursive: true });
    await mkdir(join(snapshot, 'sanitized'), { recursive: true });
    await writeFile(join(snapshot, 'raw/configmap-dify.yaml'), 'raw');
    await writeFile(join(snapshot, 'sanitized/configmap-dify.yaml'), 'sanitized');
    backup = await createBackup({
      storageDir: join(work, 'storage'),
      backupDir: join(work, 'backups'),
      backupId: id,
      marginRatio: 0,
      kubernetes: {
        objects: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: 'dify',
            rawFile: `${id}.kubernetes/raw/configmap-dify.yaml`,
            sanitizedFile: `${id}.kubernetes/sanitized/configmap-dify.yaml`,
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it('uploads archive, manifest, checksums and the record last, each verified; never the Kubernetes objects (secrets)', async () => {
    const uploader = directoryUploader(join(work, 'remote'));
    const result = await copyOffNode({ record: backup.record, uploader, prefix: 'backups/dify/' });
    const id = backup.record.id;
    expect(uploader.keys).toEqual([
      `backups/dify/${id}/${backup.record.archive.fileName}`,
      `backups/dify/${id}/${id}.manifest.ndjson`,
      `backups/dify/${id}/${id}.sha256sums`,
      `backups/dify/${id}/${id}.record.json`,
    ]);
    expect(result.objects[0]).toMatchObject({
      bytes: backup.record.archive.bytes,
      sha256: backup.record.archive.sha256,
    });
    expect((await stat(join(work, 'remote', uploader.keys[0]!))).size).toBe(
      backup.record.archive.bytes,
    );
  });

  it('fails when the stored object does not match', async () => {
    const id = backup.record.id;
    const uploader = directoryUploader(join(work, 'remote2'), {
      corruptKey: `${id}/${id}.manifest.ndjson`,
    });
    await expect(copyOffNode({ record: backup.record, uploader })).rejects.toThrow(
      new RegExp(
        `Off-node copy of ${id}/${id}\\.manifest\\.ndjson does not match .* The off-node copy is incomplete\\.`,
      ),
    );
    expect(uploader.keys).not.toContain(`${id}/${id}.record.json`);
  });

  it('fails when the local archive no longer matches the record', async () => {
    const tampered = {
      ...backup.record,
      archive: { ...backup.record.archive, sha256: 'f'.repeat(64) },
    };
    const uploader = directoryUploader(join(work, 'remote3'));
    await expect(copyOffNode({ record: tampered, uploader })).rejects.toThrow(
      /the local file changed or the upload read it wrongly/,
    );
  });
});
