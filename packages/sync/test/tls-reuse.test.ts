import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { S3Transport } from '../src/index.js';
import { bytes, newBucket } from './helpers.js';

// Issue 17 §2: over TLS (the proving ground's RGW endpoint, its private CA verified), requests
// reuse the keep-alive connection, and a new connection resumes the TLS session.
async function tlsBucket(name: string) {
  const plain = await newBucket(name);
  return {
    ...plain,
    endpoint: process.env.DSM_S3_TLS_ENDPOINT!,
    caBundle: fs.readFileSync(process.env.DSM_S3_CA_FILE!, 'utf8'),
  };
}

describe('TLS: keep-alive and session reuse', () => {
  it('a second request goes over the same TLS connection; a new one resumes the session', async () => {
    const t = new S3Transport(await tlsBucket('tls-reuse'));
    try {
      expect(await t.headObject('a')).toBeUndefined();
      expect(await t.headObject('b')).toBeUndefined();
      expect(t.connectionStats).toEqual({ connects: 1, resumed: 0 });
      t.closeIdle();
      expect(await t.headObject('c')).toBeUndefined();
      expect(t.connectionStats).toEqual({ connects: 2, resumed: 1 });
    } finally {
      t.close();
    }
  }, 30_000);

  it('40 PUTs with 4 sockets open 4 TLS connections, not 40', async () => {
    const t = new S3Transport(await tlsBucket('tls-pool'), { maxSockets: 4 });
    try {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const body = bytes(1000 + i, i);
          return t.putObject(`k${i}`, body, createHash('md5').update(body).digest(), {});
        }),
      );
      expect(t.counts.PutObject).toBe(40);
      expect(t.connectionStats!.connects).toBeLessThanOrEqual(4);
    } finally {
      t.close();
    }
  }, 60_000);
});
