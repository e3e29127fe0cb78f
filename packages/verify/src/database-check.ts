import type { S3Client } from '@aws-sdk/client-s3';
import {
  REFERENCE_KINDS,
  SourceTree,
  type ReferenceKind,
  type SourceFile,
  type StorageReference,
} from '@dify-storage/dify';
import { compareKeys } from '@dify-storage/sync';
import { forEachLimit, hashObject, listBucket, type ListedObject } from './bucket.js';

export type ReadBack = 'none' | 'sample' | 'all';

export interface ReferenceCheckOptions {
  references: AsyncIterable<StorageReference>;
  /** The source tree (the hostPath): tells references broken before the migration from failures. */
  storagePath?: string;
  /** The bucket: each reference must be there, under its verbatim key, as in the source. */
  client?: S3Client;
  bucket?: string;
  readBack: ReadBack;
  /** With `sample`, how many hashed rows to read back at most. */
  sampleSize?: number;
  /** How many failing (and pre-existing broken) keys to list. */
  listLimit?: number;
}

export type ReferenceOutcome = 'ok' | 'preExisting' | 'missing' | 'differs';

export type KindCounts = Record<ReferenceOutcome | 'references', number>;

export interface ReferenceProblem {
  kind: ReferenceKind;
  id: string;
  key: string;
  outcome: Exclude<ReferenceOutcome, 'ok'>;
  reason: string;
}

export interface ReferenceReport {
  status: 'pass' | 'fail';
  summary: string;
  against: { sourceTree: string | null; bucket: string | null };
  kinds: Record<ReferenceKind, KindCounts>;
  total: KindCounts;
  /** Objects read back and compared with upload_files.hash or their source file. */
  hashed: number;
  /** Missing or different in the bucket while present in the source: the first `listLimit`. */
  failures: ReferenceProblem[];
  /** Broken before the migration (no file in the source): the first `listLimit`. */
  preExisting: ReferenceProblem[];
}

const zero = (): KindCounts => ({ references: 0, ok: 0, preExisting: 0, missing: 0, differs: 0 });

/**
 * What one reference's outcome is, from its file in the source tree (when one is given) and its
 * object in the bucket (when one is given). dify-1.3.0-fidelity.md §1: a row's size is compared
 * only when it is known to be bytes; §4: a row with no file in the source was broken before the
 * migration, whatever the bucket holds, and is reported, not failed.
 */
function classify(
  ref: StorageReference,
  source: SourceFile | undefined,
  object: ListedObject | undefined | null,
): { outcome: ReferenceOutcome; reason: string } {
  const bucketGiven = object !== null;
  if (source && 'absent' in source) {
    return object
      ? { outcome: 'ok', reason: '' }
      : { outcome: 'preExisting', reason: source.absent };
  }
  if (!bucketGiven) return { outcome: 'ok', reason: '' };
  if (!object) return { outcome: 'missing', reason: 'no such object in the bucket' };
  const expected = source ? source.size : ref.size;
  if (expected !== null && expected !== object.size) {
    const of = source ? 'the source file has' : 'row says';
    return { outcome: 'differs', reason: `${of} ${expected} bytes, object has ${object.size}` };
  }
  return { outcome: 'ok', reason: '' };
}

/** One bucket listing consumed in step with the references (both in S3 key order). */
function bucketCursor(client: S3Client, bucket: string) {
  const it = listBucket(client, bucket)[Symbol.asyncIterator]();
  let current: ListedObject | undefined;
  let started = false;
  return async (key: string): Promise<ListedObject | undefined> => {
    if (!started) [current, started] = [(await it.next()).value as ListedObject | undefined, true];
    while (current && compareKeys(current.key, key) < 0)
      current = (await it.next()).value as ListedObject | undefined;
    return current?.key === key ? current : undefined;
  };
}

/**
 * Every reference of the database, resolved against the source tree (OpenDAL-normalized path)
 * and the bucket (verbatim key): a table per kind of ok, pre-existing broken, missing in the
 * bucket and different. It fails only for what the source has and the bucket lacks or holds
 * differently. Streams: batches of references in flight, one listing page, a bounded sample.
 */
export async function checkReferences(o: ReferenceCheckOptions): Promise<ReferenceReport> {
  const listLimit = o.listLimit ?? 100;
  const tree = o.storagePath ? new SourceTree(o.storagePath) : undefined;
  const lookup = o.client && o.bucket ? bucketCursor(o.client, o.bucket) : undefined;
  const kinds = Object.fromEntries(REFERENCE_KINDS.map((k) => [k, zero()])) as Record<
    ReferenceKind,
    KindCounts
  >;
  const total = zero();
  const failures: ReferenceProblem[] = [];
  const preExisting: ReferenceProblem[] = [];
  const sample = readBackSample(o);
  const settle = async (batch: StorageReference[]) => {
    const sources = tree ? await Promise.all(batch.map((r) => tree.stat(r.fsPath))) : [];
    for (const [i, ref] of batch.entries()) {
      const object = lookup ? await lookup(ref.key) : null;
      const { outcome, reason } = classify(ref, sources[i], object);
      kinds[ref.kind][outcome] += 1;
      kinds[ref.kind].references += 1;
      const list = outcome === 'preExisting' ? preExisting : failures;
      if (outcome !== 'ok' && list.length < listLimit)
        list.push({ kind: ref.kind, id: ref.id, key: ref.key, outcome, reason });
      // Read back what can be compared: the row's hash (API uploads), or else the source file
      // (create-by-text, docx images, tool files, keys: their size column is not bytes).
      const inSource = sources[i] !== undefined && !('absent' in sources[i]!);
      if (outcome === 'ok' && object && (ref.sha3 || inSource)) sample.offer(ref);
    }
  };
  let batch: StorageReference[] = [];
  for await (const ref of o.references) {
    batch.push(ref);
    if (batch.length < 256) continue;
    await settle(batch);
    batch = [];
  }
  await settle(batch);
  const hashed = await readBackCompare(o, tree, sample.items, (p) => {
    kinds[p.kind].ok -= 1;
    kinds[p.kind].differs += 1;
    if (failures.length < listLimit) failures.push(p);
  });
  for (const k of REFERENCE_KINDS)
    for (const f of Object.keys(total) as (keyof KindCounts)[]) total[f] += kinds[k][f];
  return summarize(o, { kinds, total, hashed, failures, preExisting });
}

/** A uniform sample of hashed rows (reservoir sampling: the row count is not known in advance). */
function readBackSample(o: ReferenceCheckOptions) {
  const size =
    o.readBack === 'all' ? Infinity : o.readBack === 'sample' ? (o.sampleSize ?? 100) : 0;
  const items: StorageReference[] = [];
  let seen = 0;
  return {
    items,
    offer(ref: StorageReference) {
      seen += 1;
      if (items.length < size) items.push(ref);
      else if (size > 0 && Number.isFinite(size)) {
        const j = Math.floor(Math.random() * seen);
        if (j < size) items[j] = ref;
      }
    },
  };
}

/**
 * Reads sampled objects back and compares them with upload_files.hash, or, for a row without
 * one, with its source file. A hash mismatch counts only when the source file (if given) does
 * not have the object's hash either (a row whose hash was already wrong before the migration
 * is not the migration's fault).
 */
async function readBackCompare(
  o: ReferenceCheckOptions,
  tree: SourceTree | undefined,
  items: StorageReference[],
  onDiffers: (p: ReferenceProblem) => void,
): Promise<number> {
  if (!o.client || !o.bucket) return 0;
  await forEachLimit(items, 8, async (ref) => {
    const { digests } = await hashObject(o.client!, o.bucket!, ref.key, ['sha3-256']);
    const got = digests['sha3-256'];
    if (got === ref.sha3) return;
    const source = tree ? (await tree.digests(ref.fsPath, ['sha3-256']))['sha3-256'] : undefined;
    if (source === got) return;
    const reason = ref.sha3
      ? `sha3-256 ${got} differs from upload_files.hash ${ref.sha3}`
      : `sha3-256 ${got} differs from the source file's ${source}`;
    onDiffers({ kind: ref.kind, id: ref.id, key: ref.key, outcome: 'differs', reason });
  });
  return items.length;
}

function summarize(
  o: ReferenceCheckOptions,
  r: Omit<ReferenceReport, 'status' | 'summary' | 'against'>,
): ReferenceReport {
  const t = r.total;
  const perKind = REFERENCE_KINDS.map((k) => `${r.kinds[k].references} ${k}`).join(', ');
  const pre =
    t.preExisting > 0 ? `; pre-existing, ${t.preExisting} rows (no file in the source)` : '';
  const against = { sourceTree: o.storagePath ?? null, bucket: o.bucket ?? null };
  if (t.missing + t.differs > 0) {
    const first = r.failures[0]!;
    return {
      status: 'fail',
      summary: `${t.missing} referenced key(s) missing in the bucket, ${t.differs} different, among ${t.references} references (${perKind})${pre}; first: ${first.kind} ${first.id} → ${JSON.stringify(first.key)} (${first.reason})`,
      against,
      ...r,
    };
  }
  const where = o.bucket ? 'in the bucket' : 'in the source tree';
  return {
    status: 'pass',
    summary: `${t.ok} of ${t.references} referenced keys resolve ${where} (${perKind})${pre}; ${r.hashed} read back`,
    against,
    ...r,
  };
}

/** The table `dify-storage references` prints: one row per kind. */
export function formatReferenceTable(r: ReferenceReport): string[] {
  const head = ['kind', 'references', 'ok', 'pre-existing broken', 'missing in bucket', 'differs'];
  const rows = [
    ...REFERENCE_KINDS.map((k) => [k, r.kinds[k]] as const),
    ['total', r.total] as const,
  ];
  const cells = [
    head,
    ...rows.map(([k, c]) =>
      [k, c.references, c.ok, c.preExisting, c.missing, c.differs].map(String),
    ),
  ];
  const widths = head.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
  );
}
