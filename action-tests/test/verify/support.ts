import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SimulatedInstall } from '../../src/install/simulated-install.js';

interface PodLike {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { containers?: { env?: { name: string; value?: string }[] }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Polls `check` until it returns a value, or fails naming what was awaited. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(150);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${(lastError as Error).message})` : ''}`,
  );
}

/** The live (not terminating) pods of an app label, straight from the fake API server. */
export function livePods(install: SimulatedInstall, app: string): PodLike[] {
  return (install.server.api.list('pods', install.namespace).items as PodLike[]).filter(
    (p) => p.metadata?.labels?.app === app && !p.metadata?.deletionTimestamp,
  );
}

export function allPods(install: SimulatedInstall, app: string): PodLike[] {
  return (install.server.api.list('pods', install.namespace).items as PodLike[]).filter(
    (p) => p.metadata?.labels?.app === app,
  );
}

export const isReady = (p: PodLike): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Waits until exactly `replicas` ready pods of the app run and none is terminating. */
export async function waitForPods(
  install: SimulatedInstall,
  app: string,
  replicas: number,
  accept: (p: PodLike) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    `${replicas} ready ${app} pod(s)`,
    () => {
      const pods = allPods(install, app);
      return pods.length === replicas &&
        pods.every((p) => !p.metadata?.deletionTimestamp && isReady(p) && accept(p))
        ? true
        : undefined;
    },
    timeoutMs,
  );
}

export function mergePatch(
  install: SimulatedInstall,
  resource: 'deployments' | 'configmaps',
  name: string,
  body: unknown,
): void {
  install.server.api.patch(
    resource,
    install.namespace,
    name,
    'application/merge-patch+json',
    JSON.stringify(body),
  );
}

export function getObject<T>(
  install: SimulatedInstall,
  resource: 'deployments' | 'configmaps',
  name: string,
): T {
  return install.server.api.get(resource, install.namespace, name) as T;
}

/** Takes an object out of the bucket and returns how to put it back exactly (body and metadata). */
export async function removeObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<() => Promise<void>> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from(await got.Body!.transformToByteArray());
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  return async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ...(got.ContentType ? { ContentType: got.ContentType } : {}),
        ...(got.Metadata ? { Metadata: got.Metadata } : {}),
      }),
    );
  };
}

export async function listKeys(s3: S3Client, bucket: string, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(r.Contents ?? []).map((o) => o.Key!));
    if (!r.IsTruncated) break;
    token = r.NextContinuationToken;
  }
  return keys;
}

/** Empties and removes a bucket; a bucket that does not exist is fine. */
export async function dropBucket(s3: S3Client, bucket: string): Promise<void> {
  let keys: string[];
  try {
    keys = await listKeys(s3, bucket);
  } catch (error) {
    if ((error as Error).name === 'NoSuchBucket') return;
    throw error;
  }
  for (const key of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * A loopback proxy in front of RGW that holds every request for `delayMs` before forwarding it
 * unchanged (the Host header too, so the SigV4 signature still verifies).
 */
export async function startSlowProxy(
  target: string,
  delayMs: number,
): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  const upstream = new URL(target);
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    req.pause();
    setTimeout(() => {
      const out = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.destroy();
      });
      req.pipe(out);
      req.resume();
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
