import { link, mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import type { OffNodeUploader } from '@dify-storage/backup';
import { S3Transport, syncToBucket } from '@dify-storage/sync';

/**
 * Puts backup files in another bucket or prefix through the sync engine, so large archives go
 * multipart with per-part Content-MD5 and the sha256 the engine computes while reading lands in
 * the object's metadata. Each file is hard-linked into a one-file staging tree (same file
 * system as the backup, no copy) whose relative path is the object key.
 */
export function offNodeUploader(s3: S3Target, backupDir: string): OffNodeUploader {
  const target = s3;
  const transport = new S3Transport(target);
  return {
    async putFile(localPath, key) {
      const staging = await mkdtemp(path.join(backupDir, '.off-node-'));
      try {
        const staged = path.join(staging, ...key.split('/'));
        await mkdir(path.dirname(staged), { recursive: true });
        await link(localPath, staged);
        const report = await syncToBucket({ target, root: staging, mode: 'bulk' });
        if (!report.ok)
          throw new Error(
            `the upload of ${key} failed: ${report.failures[0]?.error ?? 'unknown error'}`,
          );
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      const head = await transport.headObject(key);
      if (!head) throw new Error(`${key} is not in bucket ${target.bucket} after its upload`);
      return { bytes: head.size, sha256: head.metadata.sha256 ?? '' };
    },
    async verify(key, expected) {
      const head = await transport.headObject(key);
      return (
        head !== undefined &&
        head.size === expected.bytes &&
        head.metadata.sha256 === expected.sha256
      );
    },
  };
}
