import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { S3Target } from '@dify-storage/s3';
import { SyncFailedError, syncToBucket, verifyBucket, type SyncReport } from '../src/index.js';
import { bytes, getObject, newBucket, tempDir, writeFile } from './helpers.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

describe('files that change while they are copied', () => {
  it('end up in the bucket in their final state', async () => {
    const target = await newBucket('sync-chg');
    const root = tempDir('chg');
    cleanup.push(root);
    writeFile(root, 'small.txt', bytes(10_000, 1));
    writeFile(root, 'big.bin', bytes(24 * MiB, 2));
    writeFile(root, 'mid.bin', bytes(10 * MiB, 5));
    for (let i = 0; i < 20; i++) writeFile(root, `other/${i}.txt`, bytes(1000 + i, i + 10));
    const finalSmall = bytes(12_345, 3);
    const finalBig = bytes(24 * MiB, 4); // same size: only mtime/ctime and content differ
    const finalMid = bytes(10 * MiB, 6);
    let midTouched = false;
    let smallTouched = false;
    let bigTouched = false;
    const report = await syncToBucket({
      root,
      target,
      multipartThreshold: 16 * MiB,
      partSize: 5 * MiB,
      hooks: {
        afterRead: (key) => {
          if (key === 'mid.bin' && !midTouched) {
            midTouched = true;
            fs.writeFileSync(path.join(root, key), finalMid);
          }
          if (key === 'small.txt' && !smallTouched) {
            smallTouched = true;
            fs.writeFileSync(path.join(root, key), finalSmall);
          }
        },
        afterPart: (key, n) => {
          if (key === 'big.bin' && n === 1 && !bigTouched) {
            bigTouched = true;
            fs.writeFileSync(path.join(root, key), finalBig);
          }
        },
      },
    });
    expect(smallTouched && bigTouched && midTouched).toBe(true);
    expect(report.counts).toMatchObject({ copied: 23, failed: 0 });
    expect(report.counts.requeued).toBeGreaterThanOrEqual(3);
    expect(sha(await getObject(target, 'mid.bin'))).toBe(sha(finalMid));
    expect(sha(await getObject(target, 'small.txt'))).toBe(sha(finalSmall));
    expect(sha(await getObject(target, 'big.bin'))).toBe(sha(finalBig));
  }, 60_000);

  it('a file that never stops changing fails with a clear error, the others are copied', async () => {
    const target = await newBucket('sync-chg2');
    const root = tempDir('chg2');
    cleanup.push(root);
    writeFile(root, 'busy.log', 'x');
    writeFile(root, 'calm.txt', 'calm');
    let n = 0;
    const err = await syncToBucket({
      root,
      target,
      maxChangeRetries: 2,
      hooks: {
        afterRead: (key) =>
          key === 'busy.log' ? fs.appendFileSync(path.join(root, key), `${n++}`) : undefined,
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncFailedError);
    expect((err as Error).message).toMatch(
      /1 file\(s\) could not be copied[\s\S]*busy\.log: file kept changing while it was read \(3 attempts\)/,
    );
    const report = (err as SyncFailedError).report as SyncReport;
    expect(report.counts).toMatchObject({ copied: 1, failed: 1 });
    expect(report.failures).toEqual([expect.objectContaining({ path: 'busy.log' })]);
  }, 60_000);
});

/**
 * A proxy in front of RGW that answers 503 SlowDown to some PUTs, resets some connections and
 * refuses everything for a while (what a radosgw restart looks like to a client).
 */
async function faultyProxy(
  upstream: URL,
): Promise<{ url: string; outage(ms: number): void; close(): Promise<void>; injected: number }> {
  let count = 0;
  let downUntil = 0;
  const state = { injected: 0 };
  const server = http.createServer((req, res) => {
    count++;
    if (Date.now() < downUntil || (req.method === 'PUT' && count % 7 === 0)) {
      state.injected++;
      req.socket.destroy();
      return;
    }
    if (req.method === 'PUT' && count % 5 === 0) {
      state.injected++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
      );
      return;
    }
    const up = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    outage: (ms) => {
      downUntil = Date.now() + ms;
    },
    get injected() {
      return state.injected;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('throttling, resets and a server outage', () => {
  it('are retried with backoff and nothing is lost', async () => {
    const target: S3Target = await newBucket('sync-retry');
    const proxy = await faultyProxy(new URL(target.endpoint!));
    const root = tempDir('retry');
    cleanup.push(root);
    for (let i = 0; i < 150; i++) writeFile(root, `f/${i}.bin`, bytes(2000 + i, i));
    writeFile(root, 'big.bin', bytes(12 * MiB, 99));
    let outageDone = false;
    try {
      const report = await syncToBucket({
        root,
        target: { ...target, endpoint: proxy.url },
        concurrency: 8,
        multipartThreshold: 8 * MiB,
        partSize: 5 * MiB,
        transport: { backoffBaseMs: 20, backoffCapMs: 500, maxAttempts: 30 },
        hooks: {
          afterRead: (key) => {
            if (key === 'f/50.bin' && !outageDone) {
              outageDone = true;
              proxy.outage(1500);
            }
          },
        },
      });
      expect(outageDone).toBe(true);
      expect(report.counts).toMatchObject({ copied: 151, failed: 0 });
      expect(report.retries).toBeGreaterThan(10);
      expect(proxy.injected).toBeGreaterThan(10);
    } finally {
      await proxy.close();
    }
    const v = await verifyBucket({ root, target, readBack: 1, partSize: 5 * MiB });
    expect(v.ok).toBe(true);
  }, 90_000);
});
