/**
 * One RWO volume per workload (issue 19 shape 3): api and worker each wrote their own tree, so
 * each holds files the other never saw. The cutover copies the api's tree only and still refuses
 * this shape (`different-volumes`); when this runner sees both trees, the plan says what the
 * worker's holds - files only there (they would be lost), files identical in both, and keys in
 * both with different content, which are never overwritten one with the other.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { walkTree } from '@dify-storage/backup';
import { openEntry, realPathOrSelf } from '@dify-storage/common';
import type { InstallInspection } from '@dify-storage/kube';

export interface TreeComparison {
  /** Regular files in the worker's tree. */
  files: number;
  onlyInWorker: number;
  identical: number;
  /** Keys in both trees with different content (first `limit`), and how many in all. */
  conflicts: string[];
  conflictCount: number;
  /** First keys only in the worker's tree. */
  onlyInWorkerSample: string[];
}

/** sha256 of a file opened without following a symbolic link. */
async function hashNoFollow(file: string): Promise<string> {
  const fd = await openEntry(file);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream('', { fd, highWaterMark: 1 << 20 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The api tree's regular file at `rel`, reached without a symbolic link on the way; else undefined. */
async function apiFile(apiRoot: string, rel: string): Promise<string | undefined> {
  const file = path.join(apiRoot, ...rel.split('/'));
  const st = await lstat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const real = realPathOrSelf(file);
  return real === path.join(realPathOrSelf(apiRoot), ...rel.split('/')) ? file : undefined;
}

/** Compares the worker's tree with the api's, file by file (size, then content). Streams. */
export async function compareTrees(
  apiRoot: string,
  workerRoot: string,
  limit = 20,
): Promise<TreeComparison> {
  const out: TreeComparison = {
    files: 0,
    onlyInWorker: 0,
    identical: 0,
    conflicts: [],
    conflictCount: 0,
    onlyInWorkerSample: [],
  };
  for await (const entry of walkTree(workerRoot, { statFiles: true })) {
    if (entry.kind !== 'file') continue;
    out.files++;
    const other = await apiFile(apiRoot, entry.path);
    if (!other) {
      out.onlyInWorker++;
      if (out.onlyInWorkerSample.length < limit) out.onlyInWorkerSample.push(entry.path);
      continue;
    }
    const size = (await lstat(other)).size;
    const same =
      BigInt(size) === entry.stat?.size &&
      (await hashNoFollow(other)) === (await hashNoFollow(entry.openPath));
    if (same) out.identical++;
    else {
      out.conflictCount++;
      if (out.conflicts.length < limit) out.conflicts.push(entry.path);
    }
  }
  return out;
}

/** The comparison in one sentence for the plan's `different-volumes` finding. */
export function describeComparison(c: TreeComparison, worker: string): string {
  const quoted = (keys: string[], all: number) =>
    `${keys.map((k) => JSON.stringify(k)).join(', ')}${all > keys.length ? ` and ${all - keys.length} more` : ''}`;
  const parts = [
    `Compared on this runner: ${worker}'s tree holds ${c.files} file(s); ${c.onlyInWorker} only there (they would be lost${c.onlyInWorker ? `: ${quoted(c.onlyInWorkerSample, c.onlyInWorker)}` : ''})`,
    `${c.identical} identical in both`,
    `${c.conflictCount} in both with different content${c.conflictCount ? ` (${quoted(c.conflicts, c.conflictCount)}; neither is overwritten with the other: decide which to keep)` : ''}`,
  ];
  return `${parts.join(', ')}.`;
}

/**
 * The comparison note when api and worker keep their files on two node-local volumes this runner
 * sees: `apiDir` (storage-path) is where it sees the api's directory, and the worker's directory
 * is found the same way (the same prefix before the volume's path on the node).
 */
export async function separateTreesNote(
  inspection: InstallInspection,
  apiDir: string | undefined,
): Promise<string | undefined> {
  const a = inspection.api.volumes[0];
  const b = inspection.worker.volumes[0];
  if (!apiDir || !a?.path || !b?.path || !a.nodeLocal || !b.nodeLocal) return undefined;
  if (a.node && b.node && a.node !== b.node) return undefined;
  const trim = (p: string) => p.replace(/\/+$/, '');
  const root = trim(apiDir);
  if (!root.endsWith(trim(a.path))) return undefined;
  const workerDir = `${root.slice(0, root.length - trim(a.path).length)}${trim(b.path)}`;
  if (!(await lstat(workerDir).catch(() => undefined))?.isDirectory()) return undefined;
  return describeComparison(await compareTrees(root, workerDir), inspection.worker.name);
}
