import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client } from '@dify-storage/s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/dify/config.js';
import { ClientError, FileNotFoundError } from '../../src/dify/log.js';
import { createStorage, type Storage } from '../../src/dify/storage/index.js';
import { env, s3Env, tempDir } from './support.js';

async function drain(gen: AsyncGenerator<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of gen) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The facade contract both backends share (Dify's BaseStorage as the api and worker use it). */
function contract(
  name: string,
  make: () => Promise<{ storage: Storage; streamMissing: string; cleanup?: () => Promise<void> }>,
) {
  describe(name, () => {
    let storage: Storage;
    let streamMissing: string;
    let cleanup: (() => Promise<void>) | undefined;
    let tmp: { dir: string; remove(): Promise<void> };

    beforeAll(async () => {
      ({ storage, streamMissing, cleanup } = await make());
      tmp = await tempDir('dify-dl-');
    });
    afterAll(async () => {
      storage?.close();
      await cleanup?.();
      await tmp?.remove();
    });

    it('saves and reads back through every read path', async () => {
      const key = `upload_files/t/${randomBytes(4).toString('hex')} ü.png`;
      const data = randomBytes(150 * 1024);
      await storage.save(key, data);
      expect(await storage.exists(key)).toBe(true);
      expect((await storage.loadOnce(key)).equals(data)).toBe(true);
      expect((await drain(storage.load(key, true))).equals(data)).toBe(true);
      const target = path.join(tmp.dir, 'x.png');
      await storage.download(key, target);
      expect((await readFile(target)).equals(data)).toBe(true);
      await storage.delete(key);
      expect(await storage.exists(key)).toBe(false);
    });

    it('reports missing objects the way Dify does', async () => {
      const key = 'upload_files/t/missing.txt';
      expect(await storage.exists(key)).toBe(false);
      await expect(storage.loadOnce(key)).rejects.toThrow(FileNotFoundError);
      const gen = storage.loadStream(key); // a generator: nothing happens until it is pulled
      await expect(gen.next()).rejects.toThrow(streamMissing);
      await expect(storage.delete(key)).resolves.toBeUndefined();
    });
  });
}

contract('OpenDAL fs storage', async () => {
  const cwd = await tempDir('dify-fs-');
  const storage = await createStorage(
    loadConfig({ STORAGE_TYPE: 'opendal', OPENDAL_FS_ROOT: 'storage' }, cwd.dir),
  );
  return { storage, streamMissing: 'File not found', cleanup: cwd.remove };
});

contract('S3 storage (RGW)', async () => {
  const bucket = `dify-st-${randomBytes(4).toString('hex')}`;
  const storage = await createStorage(loadConfig(s3Env(bucket), '/nonexistent'));
  return { storage, streamMissing: 'file not found' };
});

describe('keys OpenDAL fs normalizes and S3 keeps verbatim (dify-1.3.0-fidelity.md §3)', () => {
  const keys = [
    'upload_files/t/u.pdf ',
    'upload_files//u2.png',
    '/privkeys/t/private.pem',
    'upload_files/t/u3.txt\u00a0',
    '\u3000upload_files/t/u4.md\u3000',
  ];

  it('fs stores each at the normalized path and reads it back by the raw key', async () => {
    const cwd = await tempDir('dify-norm-');
    try {
      const storage = await createStorage(
        loadConfig({ STORAGE_TYPE: 'opendal', OPENDAL_FS_ROOT: 'storage' }, cwd.dir),
      );
      for (const key of keys) await storage.save(key, Buffer.from(key));
      const root = path.join(cwd.dir, 'storage');
      for (const [key, onDisk] of [
        [keys[0]!, 'upload_files/t/u.pdf'],
        [keys[1]!, 'upload_files/u2.png'],
        [keys[2]!, 'privkeys/t/private.pem'],
        [keys[3]!, 'upload_files/t/u3.txt'],
        [keys[4]!, 'upload_files/t/u4.md'],
      ] as const) {
        expect((await readFile(path.join(root, onDisk), 'utf8')) === key).toBe(true);
        expect((await storage.loadOnce(key.trim())).toString()).toBe(key);
      }
      // A trailing slash after the trim is a directory, never a file.
      await expect(storage.save('upload_files/t/ ', Buffer.from('x'))).rejects.toThrow(
        /IsADirectory/,
      );
      // U+200B is no White_Space in Rust: it stays part of the name.
      await storage.save('upload_files/t/z\u200b', Buffer.from('z'));
      expect(existsSync(path.join(root, 'upload_files/t/z\u200b'))).toBe(true);
    } finally {
      await cwd.remove();
    }
  });

  it('S3 stores each under the verbatim key', async () => {
    const bucket = `dify-st-${randomBytes(4).toString('hex')}`;
    const storage = await createStorage(loadConfig(s3Env(bucket), '/nonexistent'));
    const s3 = createS3Client({
      endpoint: env('DSM_S3_ENDPOINT'),
      region: env('DSM_S3_REGION'),
      forcePathStyle: true,
      credentials: {
        accessKeyId: env('DSM_S3_ACCESS_KEY'),
        secretAccessKey: env('DSM_S3_SECRET_KEY'),
      },
    });
    try {
      for (const key of keys) await storage.save(key, Buffer.from(key));
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([...keys].sort());
      for (const key of keys) expect((await storage.loadOnce(key)).toString()).toBe(key);
      await expect(storage.loadOnce(keys[0]!.trim())).rejects.toThrow(FileNotFoundError);
      for (const key of keys) await storage.delete(key);
    } finally {
      storage.close();
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
    }
  });
});

describe('storage configuration edge cases', () => {
  it('legacy local with an absolute STORAGE_LOCAL_PATH stays inside DIFY_EMULATOR_ROOTFS', async () => {
    const root = await tempDir('dify-rootfs-');
    try {
      const storage = await createStorage(
        loadConfig(
          {
            STORAGE_TYPE: 'local',
            STORAGE_LOCAL_PATH: '/app/api/storage',
            DIFY_EMULATOR_ROOTFS: root.dir,
          },
          '/nonexistent',
        ),
      );
      await storage.save('privkeys/t/private.pem', Buffer.from('pem'));
      expect(existsSync(path.join(root.dir, 'app/api/storage/privkeys/t/private.pem'))).toBe(true);
    } finally {
      await root.remove();
    }
  });

  it('S3 download of a missing key is a 404 ClientError from HeadObject (s3transfer)', async () => {
    const bucket = `dify-st-${randomBytes(4).toString('hex')}`;
    const storage = await createStorage(loadConfig(s3Env(bucket), '/nonexistent'));
    const tmp = await tempDir('dify-dl-');
    try {
      const err = await storage.download('nope', path.join(tmp.dir, 'f')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect((err as Error).message).toBe(
        'An error occurred (404) when calling the HeadObject operation: Not Found',
      );
    } finally {
      storage.close();
      await tmp.remove();
    }
  });

  it('S3 with wrong keys starts (HeadBucket 403 is ignored, as in Dify) and fails on write', async () => {
    const bucket = `dify-st-${randomBytes(4).toString('hex')}`;
    const storage = await createStorage(
      loadConfig({ ...s3Env(bucket), S3_SECRET_KEY: 'wrong-secret-key' }, '/nonexistent'),
    );
    try {
      const err = await storage.save('k', Buffer.from('x')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect((err as Error).message).toMatch(
        /^An error occurred \((SignatureDoesNotMatch|InvalidAccessKeyId|403)\)/,
      );
      // exists() hides the auth error, like Dify's bare except.
      expect(await storage.exists('k')).toBe(false);
    } finally {
      storage.close();
    }
  });

  afterAll(async () => {
    // The buckets these tests made (created by the storage on HeadBucket 404) are empty again.
    const s3 = createS3Client({
      endpoint: env('DSM_S3_ENDPOINT'),
      region: env('DSM_S3_REGION'),
      forcePathStyle: true,
      credentials: {
        accessKeyId: env('DSM_S3_ACCESS_KEY'),
        secretAccessKey: env('DSM_S3_SECRET_KEY'),
      },
    });
    const { ListBucketsCommand } = await import('@aws-sdk/client-s3');
    const list = await s3.send(new ListBucketsCommand({}));
    for (const b of list.Buckets ?? []) {
      if (!b.Name?.startsWith('dify-st-')) continue;
      await s3.send(new DeleteBucketCommand({ Bucket: b.Name })).catch(() => undefined);
    }
    s3.destroy();
  });
});
