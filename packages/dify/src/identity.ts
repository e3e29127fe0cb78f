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

/**
 * How many sampled uploads may be missing (none of another size) when the newest upload is
 * there: references broken before the migration (a file deleted by hand, a failed write) in an
 * install too small for 5 % to absorb them. A stale or other node's copy lacks the newest upload.
 */
export const IDENTITY_MISSING_ALLOWANCE = 2;

/** Reservoir sample (algorithm R) of the references whose size is bytes, and the newest one. */
async function sampleReferences(
  refs: AsyncIterable<StorageReference>,
  size: number,
  random: () => number,
): Promise<{ sample: StorageReference[]; eligible: number; newest?: StorageReference }> {
  const sample: StorageReference[] = [];
  let eligible = 0;
  let newest: StorageReference | undefined;
  for await (const ref of refs) {
    if (ref.size === null || !isFsFilePath(ref.fsPath)) continue;
    eligible++;
    if (ref.createdAt && !(newest?.createdAt && newest.createdAt >= ref.createdAt)) newest = ref;
    if (sample.length < size) sample.push(ref);
    else {
      const j = Math.floor(random() * eligible);
      if (j < size) sample[j] = ref;
    }
  }
  return { sample, eligible, ...(newest ? { newest } : {}) };
}

/**
 * Whether a few missing files are broken references rather than a wrong tree: nothing of
 * another size, at least one match, at most IDENTITY_MISSING_ALLOWANCE missing, and the newest
 * upload present with its size.
 */
async function brokenNotWrong(
  root: string,
  r: { matched: number; missing: string[]; wrongSize: string[] },
  newest: StorageReference | undefined,
): Promise<string | undefined> {
  if (r.wrongSize.length > 0 || r.matched === 0 || r.missing.length > IDENTITY_MISSING_ALLOWANCE)
    return undefined;
  if (!newest || (await regularFileSize(root, newest.fsPath)) !== newest.size) return undefined;
  return `${r.missing.length} missing (${r.missing.map((k) => JSON.stringify(k)).join(', ')}) taken for references broken before the migration: nothing has another size and the newest upload (${JSON.stringify(newest.key)}, ${newest.createdAt!.toISOString()}) is there`;
}

/**
 * Checks up to 200 randomly chosen references (all of them when there are fewer) against the
 * tree at `storageRoot`: at least 95 % must exist at their OpenDAL path with the recorded size,
 * or, in a small install, all but IDENTITY_MISSING_ALLOWANCE with the newest one there.
 */
export async function checkDataIdentity(o: {
  databaseUrl: string;
  storageRoot: string;
  /** Test hook: a seeded random source. */
  random?: () => number;
  references?: AsyncIterable<StorageReference>;
}): Promise<DataIdentityResult> {
  const refs = o.references ?? readStorageReferences(o.databaseUrl);
  const { sample, eligible, newest } = await sampleReferences(
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
  const broken =
    checked > 0 && matched / checked < IDENTITY_THRESHOLD
      ? await brokenNotWrong(o.storageRoot, { matched, missing, wrongSize }, newest)
      : undefined;
  const ok = checked === 0 || matched / checked >= IDENTITY_THRESHOLD || broken !== undefined;
  const pct = checked ? ((100 * matched) / checked).toFixed(1) : '100';
  const examples = [...missing.slice(0, 3), ...wrongSize.slice(0, 3)].join(', ');
  const message =
    checked === 0
      ? `data identity: the database references no API upload with a recorded size; nothing to compare ${o.storageRoot} with`
      : ok
        ? `data identity: ${matched} of ${checked} sampled uploads (of ${eligible}) are in ${o.storageRoot} with their recorded size (${pct} %)${broken ? `; ${broken}` : ''}`
        : `${o.storageRoot} is not the storage the Dify pods see: of ${checked} sampled uploads (of ${eligible} with a recorded size) only ${matched} are there with that size (${pct} %, ${IDENTITY_THRESHOLD * 100} % needed); ${missing.length} missing, ${wrongSize.length} with another size (e.g. ${examples}). Check storage-path (for NFS: the local mount point of the export and subPath) and the node; files deleted before the migration are listed by \`dify-storage references\`.`;
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
