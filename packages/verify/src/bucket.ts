import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
}

/** Every object of a bucket in S3 order (UTF-8 byte order), one page in memory at a time. */
export async function* listBucket(
  client: S3Client,
  bucket: string,
  prefix?: string,
): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  for (let page = 0; page < 10_000_000; page++) {
    const r = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: token,
        MaxKeys: 1000,
      }),
    );
    for (const o of r.Contents ?? []) {
      yield { key: o.Key!, size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, '') };
    }
    if (!r.IsTruncated || !r.NextContinuationToken) return;
    token = r.NextContinuationToken;
  }
}

/** Streams an object and returns its length and the requested digests. */
export async function hashObject(
  client: S3Client,
  bucket: string,
  key: string,
  algorithms: string[],
): Promise<{ bytes: number; digests: Record<string, string> }> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hashes = algorithms.map((a) => createHash(a));
  let bytes = 0;
  for await (const chunk of r.Body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    for (const h of hashes) h.update(chunk);
  }
  return {
    bytes,
    digests: Object.fromEntries(algorithms.map((a, i) => [a, hashes[i]!.digest('hex')])),
  };
}

/** Runs `task` over items with at most `limit` in flight. */
export async function forEachLimit<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item);
    }
  });
  await Promise.all(workers);
}
