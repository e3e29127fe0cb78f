import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
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
