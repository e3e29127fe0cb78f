import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  backoffMs,
  clockOffsetMs,
  createS3Client,
  DEFAULT_RETRY,
  isRetryable,
  type S3Target,
} from '@dify-storage/s3';
import { S3Transport } from '../src/index.js';

describe('the retry policy', () => {
  it.each([
    [{ status: 429 }, true],
    [{ status: 503, code: 'SlowDown' }, true],
    [{ status: 500, code: 'InternalError' }, true],
    [{ status: 400, code: 'RequestTimeout' }, true],
    [{ status: 403, code: 'RequestTimeTooSkewed' }, true],
    [{ status: 400, code: 'ThrottlingException' }, true],
    [{ code: 'ECONNRESET' }, true],
    [{ code: 'EPIPE' }, true],
    [{ code: 'TimeoutError' }, true],
    [{ status: 404, code: 'NoSuchKey' }, false],
    [{ status: 403, code: 'AccessDenied' }, false],
    [{ status: 400, code: 'BadDigest' }, false],
    [{ code: 'CERT_HAS_EXPIRED' }, false],
  ])('%j retryable: %s', (failure, retryable) => {
    expect(isRetryable(failure)).toBe(retryable);
  });

  it('backs off with full jitter, doubling up to the cap', () => {
    const max = (retry: number) => backoffMs(retry, DEFAULT_RETRY, () => 0.999_999);
    expect(max(0)).toBeCloseTo(100, 0);
    expect(max(3)).toBeCloseTo(800, 0);
    expect(max(20)).toBeCloseTo(10_000, 0);
    expect(backoffMs(5, DEFAULT_RETRY, () => 0)).toBe(0);
  });

  it('measures clock skew from the Date of the answer', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(clockOffsetMs('Thu, 01 Jan 2026 13:00:00 GMT', now)).toBe(3_600_000);
    expect(clockOffsetMs(undefined, now)).toBeUndefined();
    expect(clockOffsetMs('not a date', now)).toBeUndefined();
  });
});

/** Answers from a script, one per request (then 200); records each request's x-amz-date. */
class ScriptedServer {
  readonly dates: string[] = [];
  script: { status: number; code?: string; date?: string }[] = [];
  private readonly server = http.createServer((req, res) => {
    this.dates.push(String(req.headers['x-amz-date']));
    req.resume();
    const next = this.script.shift();
    res.setHeader('x-amz-request-id', 'r');
    if (next?.date) res.setHeader('date', next.date);
    if (!next) {
      res.setHeader('etag', '"d41d8cd98f00b204e9800998ecf8427e"');
      res.setHeader('content-length', '0');
      res.setHeader('last-modified', new Date().toUTCString());
      res.end();
      return;
    }
    res.statusCode = next.status;
    res.setHeader('content-type', 'application/xml');
    // A HEAD answer has no body: the SDK then reads the code from the status alone.
    res.end(
      req.method === 'HEAD'
        ? undefined
        : `<?xml version="1.0"?><Error><Code>${next.code}</Code><Message>m</Message></Error>`,
    );
  });
  target(): S3Target {
    const { port } = this.server.address() as AddressInfo;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      bucket: 'b',
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 's' },
    };
  }
  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', r));
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The same scenarios through both stacks: the engine's transport (GET) and the SDK (HEAD). */
const STACKS = {
  transport: async (target: S3Target, attempts: number) => {
    const t = new S3Transport(target, { maxAttempts: attempts, backoffCapMs: 50 });
    try {
      await t.send({ op: 'GetObject', method: 'GET', key: 'k' });
    } finally {
      t.close();
    }
  },
  sdk: async (target: S3Target, attempts: number) => {
    const client = createS3Client({ ...target, maxAttempts: attempts });
    try {
      await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: 'k' }));
    } finally {
      client.destroy();
    }
  },
};

describe.each(Object.entries(STACKS))('%s under the policy', (_name, request) => {
  const server = new ScriptedServer();
  beforeAll(() => server.listen());
  afterAll(() => server.close());

  it('retries throttling and 5xx until an answer comes', async () => {
    server.dates.length = 0;
    server.script = [
      { status: 503, code: 'SlowDown' },
      { status: 500, code: 'InternalError' },
    ];
    await request(server.target(), 5);
    expect(server.dates).toHaveLength(3);
  });

  it('gives up after the attempts allowed', async () => {
    server.dates.length = 0;
    server.script = Array.from({ length: 5 }, () => ({ status: 503, code: 'SlowDown' }));
    await expect(request(server.target(), 3)).rejects.toThrow();
    expect(server.dates).toHaveLength(3);
    server.script = [];
  });

  it('does not retry what another attempt cannot fix', async () => {
    server.dates.length = 0;
    server.script = [{ status: 403, code: 'AccessDenied' }];
    await expect(request(server.target(), 5)).rejects.toThrow();
    expect(server.dates).toHaveLength(1);
  });

  it('corrects a skewed clock from the server Date and signs the retry with it', async () => {
    server.dates.length = 0;
    const ahead = new Date(Date.now() + 2 * 3_600_000);
    server.script = [{ status: 403, code: 'RequestTimeTooSkewed', date: ahead.toUTCString() }];
    await request(server.target(), 3);
    expect(server.dates).toHaveLength(2);
    const signedAt = (d: string) =>
      Date.parse(d.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    expect(Math.abs(signedAt(server.dates[0]!) - Date.now())).toBeLessThan(60_000);
    expect(Math.abs(signedAt(server.dates[1]!) - ahead.getTime())).toBeLessThan(60_000);
  });
});
