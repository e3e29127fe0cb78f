import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { copyOffNode, createBackup } from '@dify-storage/backup';
import { offNodeUploader } from '@dify-storage/operations';
import {
  createTestBucket,
  deleteTestBucket,
  testS3Client,
  testTlsS3Settings,
} from '../../../action-tests/src/proving-ground/s3.js';

describe('off-node copy of a backup through the sync engine (real RGW)', () => {
  let client: S3Client;
  let bucket: string;
  let work: string;
  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client, 'off-node');
    work = await mkdtemp(path.join(os.tmpdir(), 'off-node-'));
  });
  afterAll(async () => {
    await deleteTestBucket(client, bucket);
    client.destroy();
    await rm(work, { recursive: true, force: true });
  });

  it('uploads archive, manifest, checksums and record (last), each verified by size and sha256', async () => {
    const storage = path.join(work, 'storage');
    await mkdir(path.join(storage, 'upload_files', 't'), { recursive: true });
    await writeFile(path.join(storage, 'upload_files', 't', 'a.bin'), randomBytes(300_000));
    await writeFile(path.join(storage, 'upload_files', 't', 'b b..png'), randomBytes(1000));
    const backupDir = path.join(work, 'backups');
    const { record } = await createBackup({ storageDir: storage, backupDir });
    // Over the TLS endpoint with the private CA, as an off-node MinIO/RGW often is.
    const s3 = testTlsS3Settings();
    const target = {
      bucket,
      region: s3.region,
      forcePathStyle: true,
      endpoint: s3.endpoint!,
      credentials: s3.credentials!,
      caBundle: s3.caBundle!,
    };
    const result = await copyOffNode({
      record,
      uploader: offNodeUploader(target, backupDir),
      backupDir,
      prefix: 'backups/dify/',
    });
    const keys = result.objects.map((o) => o.key);
    expect(keys.at(-1)).toBe(`backups/dify/${record.id}/${record.id}.record.json`);
    expect(keys).toEqual(
      expect.arrayContaining([
        `backups/dify/${record.id}/${record.archive.fileName}`,
        `backups/dify/${record.id}/${record.manifest.fileName}`,
      ]),
    );
    const archive = await client.send(
      new HeadObjectCommand({
        Bucket: bucket,
        Key: `backups/dify/${record.id}/${record.archive.fileName}`,
      }),
    );
    expect(archive.ContentLength).toBe(record.archive.bytes);
    expect(archive.Metadata?.sha256).toBe(record.archive.sha256);
    // No staging directory is left in the backup directory.
    expect((await readdir(backupDir)).filter((n) => n.startsWith('.off-node-'))).toEqual([]);
  });
});
