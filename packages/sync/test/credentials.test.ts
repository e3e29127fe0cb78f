import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createS3Client,
  REFRESH_MARGIN_MS,
  type S3Credentials,
  type S3Target,
} from '@dify-storage/s3';
import { S3RequestError, S3Transport, syncToBucket } from '../src/index.js';
import { DEFAULT_STATE_DIR } from '../../../action-tests/src/proving-ground/index.js';
import { createSubuserKeys } from '../../../action-tests/src/proving-ground/rgw.js';
import { bytes, listKeys, newBucket, tempDir, writeFile } from './helpers.js';

const CEPH_DIR = path.join(DEFAULT_STATE_DIR, 'ceph');
const FILES = 800;

/** Whether RGW still accepts `keys` (one signed listing). */
async function accepted(target: S3Target, keys: S3Credentials): Promise<boolean> {
  const t = new S3Transport({ ...target, credentials: keys }, { maxAttempts: 1 });
  try {
    await t.listObjectsV2({ maxKeys: 1 });
    return true;
  } catch (error) {
    if (error instanceof S3RequestError && error.status === 403) return false;
    throw error;
  } finally {
    t.close();
  }
}

describe('credentials from a provider during a long copy (real RGW)', () => {
  let target: S3Target;
  let root: string;
  beforeAll(async () => {
    target = await newBucket('sync-creds');
    root = tempDir('creds');
    for (let i = 0; i < FILES; i++) writeFile(root, `f/${i}.bin`, bytes(512, i));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('asks again before they expire, and goes on with the new keys once the old are revoked', async () => {
    const first = await createSubuserKeys(CEPH_DIR, 'full');
    const second = await createSubuserKeys(CEPH_DIR, 'full');
    const asked: number[] = [];
    let revoked = false;
    // Short-lived: within the refresh margin 300 ms after it is given.
    const provider = async (): Promise<S3Credentials> => {
      asked.push(Date.now());
      if (asked.length === 1) {
        return { ...first, expiration: new Date(Date.now() + REFRESH_MARGIN_MS + 300) };
      }
      if (!revoked) {
        revoked = true;
        await first.remove();
      }
      return { ...second, expiration: new Date(Date.now() + 3_600_000) };
    };
    const started = Date.now();
    const report = await syncToBucket({
      root,
      target: { ...target, credentials: provider },
      concurrency: 2,
    });
    expect(report.ok).toBe(true);
    expect(asked.length).toBeGreaterThanOrEqual(2);
    // The refresh came while the copy ran, and the old keys were dead from then on.
    expect(asked[1]! - started).toBeGreaterThanOrEqual(300);
    expect(await accepted(target, first)).toBe(false);
    const listed = await listKeys(target);
    expect([...listed.keys()].filter((k) => k.startsWith('f/')).length).toBe(FILES);
    await second.remove();
  });

  it('asks again at once when the server refuses keys revoked before their time', async () => {
    const first = await createSubuserKeys(CEPH_DIR, 'full');
    const second = await createSubuserKeys(CEPH_DIR, 'full');
    const bucket = await newBucket('sync-revoked');
    let calls = 0;
    const provider = async (): Promise<S3Credentials> => (++calls === 1 ? first : second);
    const t = new S3Transport({ ...bucket, credentials: provider }, { maxAttempts: 1 });
    try {
      await t.listObjectsV2({ maxKeys: 1 });
      await first.remove();
      await t.listObjectsV2({ maxKeys: 1 });
      expect(calls).toBe(2);
    } finally {
      t.close();
      await second.remove();
    }
  });
});

describe('a session token', () => {
  let server: http.Server;
  const seen: http.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('x-amz-request-id', 'r');
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('is sent and signed by the engine and by the SDK client alike', async () => {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const credentials = async (): Promise<S3Credentials> => ({
      accessKeyId: 'ASIATEMPORARY',
      secretAccessKey: 'temporary-secret',
      sessionToken: 'session-token-from-the-chain',
      expiration: new Date(Date.now() + 3_600_000),
    });
    const target: S3Target = { endpoint, region: 'us-east-1', bucket: 'b', credentials };
    const t = new S3Transport(target, { maxAttempts: 1 });
    await t.send({ op: 'HeadBucket', method: 'HEAD' });
    t.close();
    const sdk = createS3Client(target);
    await sdk.send(new HeadBucketCommand({ Bucket: 'b' }));
    sdk.destroy();
    expect(seen).toHaveLength(2);
    for (const headers of seen) {
      expect(headers['x-amz-security-token']).toBe('session-token-from-the-chain');
      expect(headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=ASIATEMPORARY\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[^ ]*x-amz-security-token/,
      );
    }
  });
});
