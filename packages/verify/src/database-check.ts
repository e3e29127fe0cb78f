import type { S3Client } from '@aws-sdk/client-s3';
import { REFERENCE_KINDS, type ReferenceKind, type StorageReference } from '@dify-storage/dify';
import { compareKeys } from '@dify-storage/sync';
import { forEachLimit, hashObject, listBucket, type ListedObject } from './bucket.js';
import type { StageResult } from './report.js';

export type ReadBack = 'none' | 'sample' | 'all';

export interface DatabaseCheckOptions {
  client: S3Client;
  bucket: string;
  references: AsyncIterable<StorageReference>;
  readBack: ReadBack;
  /** With `sample`, how many hashed rows to read back at most. */
  sampleSize?: number;
  /** How many problems of each kind to list in the report. */
  listLimit?: number;
}

interface Problem {
  kind: ReferenceKind;
  id: string;
  key: string;
  reason: string;
}

/**
 * Every key the database references must exist in the bucket, with the size the row records
 * where that column is meaningful, and (on read-back) the sha3-256 that upload_files.hash holds.
 * A merge-join of two streams in the same byte order: bounded memory for millions of rows.
 */
export async function checkDatabaseReferences(
  o: DatabaseCheckOptions,
): Promise<Omit<StageResult, 'stage' | 'durationMs'>> {
  const listLimit = o.listLimit ?? 100;
  const missing: Problem[] = [];
  const sizeMismatch: Problem[] = [];
  const hashMismatch: Problem[] = [];
  const counts = {
    references: 0,
    kinds: Object.fromEntries(REFERENCE_KINDS.map((k) => [k, 0])) as Record<ReferenceKind, number>,
    missing: 0,
    sizeMismatch: 0,
    hashed: 0,
    hashMismatch: 0,
  };
  const toHash: { ref: StorageReference; size: number }[] = [];
  const sampleSize =
    o.readBack === 'all' ? Infinity : o.readBack === 'sample' ? (o.sampleSize ?? 100) : 0;
  let hashable = 0;

  const bucket = listBucket(o.client, o.bucket)[Symbol.asyncIterator]();
  let current: ListedObject | undefined = (await bucket.next()).value as ListedObject | undefined;
  const record = (list: Problem[], p: Problem) => {
    if (list.length < listLimit) list.push(p);
  };

  for await (const ref of o.references) {
    counts.references += 1;
    counts.kinds[ref.kind] += 1;
    while (current && compareKeys(current.key, ref.key) < 0) {
      current = (await bucket.next()).value as ListedObject | undefined;
    }
    if (!current || current.key !== ref.key) {
      counts.missing += 1;
      record(missing, {
        kind: ref.kind,
        id: ref.id,
        key: ref.key,
        reason: 'no such object in the bucket',
      });
      continue;
    }
    if (ref.size !== null && ref.size !== current.size) {
      counts.sizeMismatch += 1;
      record(sizeMismatch, {
        kind: ref.kind,
        id: ref.id,
        key: ref.key,
        reason: `row says ${ref.size} bytes, object has ${current.size}`,
      });
      continue; // already known to differ: reading it back would only repeat that
    }
    if (ref.sha3) {
      hashable += 1;
      // Reservoir sampling keeps a uniform sample without knowing the row count in advance.
      if (toHash.length < sampleSize) toHash.push({ ref, size: current.size });
      else if (sampleSize > 0 && Number.isFinite(sampleSize)) {
        const j = Math.floor(Math.random() * hashable);
        if (j < sampleSize) toHash[j] = { ref, size: current.size };
      }
    }
  }

  await forEachLimit(toHash, 8, async ({ ref }) => {
    const { digests } = await hashObject(o.client, o.bucket, ref.key, ['sha3-256']);
    counts.hashed += 1;
    if (digests['sha3-256'] !== ref.sha3) {
      counts.hashMismatch += 1;
      record(hashMismatch, {
        kind: ref.kind,
        id: ref.id,
        key: ref.key,
        reason: `sha3-256 ${digests['sha3-256']} differs from upload_files.hash ${ref.sha3}`,
      });
    }
  });

  const problems = counts.missing + counts.sizeMismatch + counts.hashMismatch;
  const evidence = { counts, missing, sizeMismatch, hashMismatch };
  if (problems > 0) {
    const first = [...missing, ...sizeMismatch, ...hashMismatch][0]!;
    return {
      status: 'fail',
      summary: `${counts.missing} referenced key(s) missing, ${counts.sizeMismatch} size mismatch(es), ${counts.hashMismatch} hash mismatch(es) among ${counts.references} references; first: ${first.kind} ${first.id} → ${first.key} (${first.reason})`,
      evidence,
    };
  }
  return {
    status: 'pass',
    summary: `all ${counts.references} referenced keys present (${REFERENCE_KINDS.map((k) => `${counts.kinds[k]} ${k}`).join(', ')}); ${counts.hashed} read back and matched sha3-256`,
    evidence,
  };
}
