/**
 * Data identity: is the directory this runner reads the storage the Dify pods see? Whatever
 * backs it (hostPath, local PV, an NFS export mounted here), a random sample of the files the
 * database references must be there with the size it recorded. Only rows whose size is known to
 * be bytes take part (API uploads, which carry a hash; references.ts). A wrong `storage-path`,
 * another node's directory or a stale copy of the export fail this before anything is copied.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { isFsFilePath } from './opendal-path.js';
import { readStorageReferences, type StorageReference } from './references.js';

export const IDENTITY_SAMPLE_SIZE = 200;
export const IDENTITY_THRESHOLD = 0.95;

export interface DataIdentityResult {
  ok: boolean;
  /** Referenced rows with a trustworthy size (the population sampled). */
  eligible: number;
  checked: number;
  /** Present under the root with the recorded size. */
  matched: number;
  missing: string[];
  /** Present but with another size: `key (recorded → found)`. */
  wrongSize: string[];
  message: string;
}

/** A refusal: the directory is not the storage the pods see. Exit class "blocked". */
export class DataIdentityError extends Error {
  override readonly name = 'DataIdentityError';
  readonly outcome = 'blocked' as const;
  constructor(readonly result: DataIdentityResult) {
    super(result.message);
  }
}

/** Size of a regular file at `rel` under `root`, never following a symlink on the way; else undefined. */
async function regularFileSize(root: string, rel: string): Promise<number | undefined> {
  let current = root;
  const parts = rel.split('/');
  for (const [i, part] of parts.entries()) {
    current = path.join(current, part);
    const st = await lstat(current).catch(() => undefined);
    if (!st || st.isSymbolicLink()) return undefined;
    if (i === parts.length - 1) return st.isFile() ? st.size : undefined;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

/** Reservoir sample (algorithm R) of the references whose size is bytes. */
async function sampleReferences(
  refs: AsyncIterable<StorageReference>,
  size: number,
  random: () => number,
): Promise<{ sample: StorageReference[]; eligible: number }> {
  const sample: StorageReference[] = [];
  let eligible = 0;
  for await (const ref of refs) {
    if (ref.size === null || !isFsFilePath(ref.fsPath)) continue;
    eligible++;
    if (sample.length < size) sample.push(ref);
    else {
      const j = Math.floor(random() * eligible);
      if (j < size) sample[j] = ref;
    }
  }
  return { sample, eligible };
}

/**
 * Checks up to 200 randomly chosen references (all of them when there are fewer) against the
 * tree at `storageRoot`: at least 95 % must exist at their OpenDAL path with the recorded size.
 */
export async function checkDataIdentity(o: {
  databaseUrl: string;
  storageRoot: string;
  /** Test hook: a seeded random source. */
  random?: () => number;
  references?: AsyncIterable<StorageReference>;
}): Promise<DataIdentityResult> {
  const refs = o.references ?? readStorageReferences(o.databaseUrl);
  const { sample, eligible } = await sampleReferences(
    refs,
    IDENTITY_SAMPLE_SIZE,
    o.random ?? Math.random,
  );
  const missing: string[] = [];
  const wrongSize: string[] = [];
  for (const ref of sample) {
    const found = await regularFileSize(o.storageRoot, ref.fsPath);
    if (found === undefined) missing.push(ref.key);
    else if (found !== ref.size) wrongSize.push(`${ref.key} (${ref.size} → ${found} bytes)`);
  }
  const checked = sample.length;
  const matched = checked - missing.length - wrongSize.length;
  const ok = checked === 0 || matched / checked >= IDENTITY_THRESHOLD;
  const pct = checked ? ((100 * matched) / checked).toFixed(1) : '100';
  const examples = [...missing.slice(0, 3), ...wrongSize.slice(0, 3)].join(', ');
  const message =
    checked === 0
      ? `data identity: the database references no API upload with a recorded size; nothing to compare ${o.storageRoot} with`
      : ok
        ? `data identity: ${matched} of ${checked} sampled uploads (of ${eligible}) are in ${o.storageRoot} with their recorded size (${pct} %)`
        : `${o.storageRoot} is not the storage the Dify pods see: of ${checked} sampled uploads (of ${eligible} with a recorded size) only ${matched} are there with that size (${pct} %, ${IDENTITY_THRESHOLD * 100} % needed); ${missing.length} missing, ${wrongSize.length} with another size (e.g. ${examples}). Check storage-path (for NFS: the local mount point of the export and subPath) and the node.`;
  return { ok, eligible, checked, matched, missing, wrongSize, message };
}

/** checkDataIdentity that throws DataIdentityError when the tree is not the pods' storage. */
export async function assertDataIdentity(
  o: Parameters<typeof checkDataIdentity>[0],
): Promise<DataIdentityResult> {
  const result = await checkDataIdentity(o);
  if (!result.ok) throw new DataIdentityError(result);
  return result;
}
