import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import { S3Transport } from '../src/index.js';

/** The proving ground's RGW, as exported by the jest global setup. */
export function rgwTarget(bucket: string): S3Target {
  const endpoint = process.env.DSM_S3_ENDPOINT;
  const accessKeyId = process.env.DSM_S3_ACCESS_KEY;
  const secretAccessKey = process.env.DSM_S3_SECRET_KEY;
  if (!endpoint || !accessKeyId || !secretAccessKey) {
    throw new Error(
      'DSM_S3_* are not set: run through jest (its global setup starts the proving ground)',
    );
  }
  return {
    endpoint,
    region: process.env.DSM_S3_REGION ?? 'us-east-1',
    bucket,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  };
}

export async function newBucket(prefix: string): Promise<S3Target> {
  const target = rgwTarget(`${prefix}-${randomBytes(4).toString('hex')}`);
  const t = new S3Transport(target);
  try {
    await t.createBucket();
  } finally {
    t.close();
  }
  return target;
}

export async function listKeys(
  target: S3Target,
): Promise<Map<string, { size: number; etag: string }>> {
  const t = new S3Transport(target);
  const out = new Map<string, { size: number; etag: string }>();
  try {
    let token: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const page = await t.listObjectsV2({ ...(token ? { continuationToken: token } : {}) });
      for (const o of page.objects) out.set(o.key, { size: o.size, etag: o.etag });
      token = page.nextToken;
      if (!token) break;
    }
  } finally {
    t.close();
  }
  return out;
}

export async function getObject(target: S3Target, key: string): Promise<Buffer> {
  const t = new S3Transport(target);
  try {
    const { stream } = await t.getObject(key);
    const chunks: Buffer[] = [];
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  } finally {
    t.close();
  }
}

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `dsm-sync-${name}-`));
}

export function writeFile(root: string, rel: string, content: Buffer | string): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
}

/** Deterministic pseudo-random bytes (incompressible, cheap). */
export function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  for (let i = n - (n % 4); i < n; i++) b[i] = i & 0xff;
  return b;
}
