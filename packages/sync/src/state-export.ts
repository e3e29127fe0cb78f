import fs from 'node:fs';
import { once } from 'node:events';
import { normalizePrefix } from './keys.js';
import { md5Line } from './manifest.js';
import { SyncState } from './state.js';
import type { S3Target } from '@dify-storage/s3';

function endpointOrigin(target: S3Target): string {
  return new URL(target.endpoint || `https://s3.${target.region}.amazonaws.com`).origin;
}

/**
 * When the last complete copy of `target` recorded in `stateDir` started (the base of a pruned
 * freeze-window delta), or undefined when there is none.
 */
export async function lastCompleteCopy(
  stateDir: string,
  target: S3Target,
  prefix?: string,
): Promise<Date | undefined> {
  const id = SyncState.targetId(endpointOrigin(target), target.bucket, normalizePrefix(prefix));
  const w = await SyncState.readWatermark(stateDir, id);
  return w ? new Date(w.startedAtMs) : undefined;
}

/** The sorted file records the sync runs left in `stateDir` for this target (key, size, md5, sha256). */
export async function* readSyncRecords(stateDir: string, target: S3Target, prefix?: string) {
  const p = normalizePrefix(prefix);
  const id = SyncState.targetId(endpointOrigin(target), target.bucket, p);
  const reader = await SyncState.readRecords(stateDir, id);
  try {
    for await (const r of reader.all()) yield { ...r, path: r.key.slice(p.length) };
  } finally {
    await reader.close();
  }
}

/**
 * Writes an md5sum-format list of every file the last complete sync recorded, paths relative to
 * the prefix: `rclone check --checkfile MD5 <file> remote:bucket/prefix` checks the bucket
 * against it independently. Returns the number of lines.
 */
export async function writeMd5List(options: {
  stateDir: string;
  target: S3Target;
  prefix?: string;
  outFile: string;
}): Promise<number> {
  const out = fs.createWriteStream(options.outFile, { mode: 0o644 });
  let n = 0;
  for await (const r of readSyncRecords(options.stateDir, options.target, options.prefix)) {
    // md5sum's format can't carry a newline in a name; rclone would misread it.
    if (r.path.includes('\n')) continue;
    if (!out.write(md5Line(r.md5, r.path))) await once(out, 'drain');
    n++;
  }
  out.end();
  await once(out, 'finish');
  return n;
}
