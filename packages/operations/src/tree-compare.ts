/**
 * Several storage trees (issue 19 shapes 3 and 4): api and worker each on their own RWO volume,
 * or a StatefulSet with a claim per ordinal. Each tree holds files the others never saw; all go
 * into the one bucket, which repairs the install. The first tree (the api's, ordinal 0) is the
 * primary: the others are compared with it and with each other, file by file, without following
 * symbolic links. A key present in two trees with different content is never overwritten one with
 * the other: the later tree's copy is left out of the bucket and the cutover is blocked until an
 * operator resolves it (docs/runbook.md, shape 3). Identical keys are copied once.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { walkTree, type BackupRecord } from '@dify-storage/backup';
import { openEntry, realPathOrSelf } from '@dify-storage/common';
import {
  describeVolume,
  volumeIdentity,
  type InstallInspection,
  type ResolvedVolume,
} from '@dify-storage/kube';

/** One storage tree as this runner sees it. */
export interface StorageTree {
  /** `dify-api`, `dify-worker`, `dify-api ordinal 1`. */
  label: string;
  /** File-name safe: state directories and backup ids. */
  slug: string;
  /** The volume as the plan describes it. */
  volume: string;
  node?: string;
  /** The directory on this runner. */
  dir: string;
}

/** How a later tree compares with the trees before it. */
export interface TreeComparison {
  label: string;
  /** Regular files in this tree. */
  files: number;
  /** Only in this tree (copied). */
  onlyHere: number;
  /** Identical to an earlier tree's file (copied once). */
  identical: number;
  /** Keys also in an earlier tree with different content, with that tree's label (all of them). */
  conflicts: { key: string; other: string }[];
}

/** Every distinct volume of api and worker (ordinals included), the api's ordinal 0 first. */
function installVolumes(i: InstallInspection): { label: string; volume: ResolvedVolume }[] {
  const seen = new Set<string>();
  const out: { label: string; volume: ResolvedVolume }[] = [];
  for (const w of [i.api, i.worker]) {
    for (const v of w.volumes) {
      if (v.problem || seen.has(volumeIdentity(v))) continue;
      seen.add(volumeIdentity(v));
      out.push({ label: v.ordinal ? `${w.name} ordinal ${v.ordinal}` : w.name, volume: v });
    }
  }
  return out;
}

/** Whether the install keeps its files in more than one tree. */
export function hasSeveralTrees(i: InstallInspection): boolean {
  return installVolumes(i).length > 1;
}

const trim = (p: string) => p.replace(/\/+$/, '');

/**
 * The install's trees as this runner sees them: the primary at `primaryDir` (storage-path or the
 * api's volume path), each other one at the same prefix before its path on the node. Problems
 * say, per tree, why it cannot be read here (another node, not mounted, not derivable).
 */
export async function locateTrees(
  i: InstallInspection,
  primaryDir: string,
): Promise<{ trees: StorageTree[]; problems: string[] }> {
  const [first, ...rest] = installVolumes(i);
  const tree = (label: string, v: ResolvedVolume | undefined, dir: string): StorageTree => ({
    label,
    slug: label.replace(/ ordinal /, '-').replace(/[^A-Za-z0-9._-]/g, '_'),
    volume: v ? describeVolume(v) : '(unresolved)',
    ...(v?.node ? { node: v.node } : {}),
    dir,
  });
  const trees = [tree(first?.label ?? i.api.name, first?.volume, trim(primaryDir))];
  const problems: string[] = [];
  const base = first?.volume.path ? trim(first.volume.path) : undefined;
  for (const { label, volume: v } of rest) {
    const where = `${label} keeps its own files in ${describeVolume(v)}`;
    const a = first!.volume;
    if (v.nodeLocal && a.nodeLocal && v.node && a.node && v.node !== a.node) {
      problems.push(
        `${where}, on node ${v.node}, but ${trees[0]!.label}'s are on node ${a.node}: a runner reads one node's disk only. Move ${label}'s files onto node ${a.node} (into its volume there, or ${trees[0]!.label}'s), then run again.`,
      );
      continue;
    }
    if (!base || !v.path || !trim(primaryDir).endsWith(base)) {
      problems.push(
        `${where}, and where this runner sees it cannot be told: storage-path '${primaryDir}' does not end with ${trees[0]!.label}'s volume path ${base ?? '(unknown)'}. Mount the volumes under one directory as on the node, and give that path.`,
      );
      continue;
    }
    const dir = `${trim(primaryDir).slice(0, trim(primaryDir).length - base.length)}${trim(v.path)}`;
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) {
      problems.push(
        `${where}, which this runner does not see at ${dir}${st?.isSymbolicLink() ? ' (a symbolic link, not followed)' : ''}.`,
      );
      continue;
    }
    trees.push(tree(label, v, dir));
  }
  return { trees, problems };
}

/** sha256 of a file opened without following a symbolic link. */
async function hashNoFollow(file: string): Promise<string> {
  const fd = await openEntry(file);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream('', { fd, highWaterMark: 1 << 20 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The tree's regular file at `rel`, reached without a symbolic link on the way; else undefined. */
async function fileInTree(root: string, rel: string): Promise<string | undefined> {
  const file = path.join(root, ...rel.split('/'));
  const st = await lstat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const real = realPathOrSelf(file);
  return real === path.join(realPathOrSelf(root), ...rel.split('/')) ? file : undefined;
}

/** Compares `tree` with the trees before it, file by file (size, then content). Streams. */
export async function compareWithEarlier(
  earlier: StorageTree[],
  tree: StorageTree,
): Promise<TreeComparison> {
  const out: TreeComparison = {
    label: tree.label,
    files: 0,
    onlyHere: 0,
    identical: 0,
    conflicts: [],
  };
  for await (const entry of walkTree(tree.dir, { statFiles: true })) {
    if (entry.kind !== 'file') continue;
    out.files++;
    let seen = false;
    for (const other of earlier) {
      const file = await fileInTree(other.dir, entry.path);
      if (!file) continue;
      seen = true;
      const same =
        BigInt((await lstat(file)).size) === entry.stat?.size &&
        (await hashNoFollow(file)) === (await hashNoFollow(entry.openPath));
      if (same) out.identical++;
      else out.conflicts.push({ key: entry.path, other: other.label });
      break;
    }
    if (!seen) out.onlyHere++;
  }
  return out;
}

/** Every later tree compared with those before it. */
export async function compareTrees(trees: StorageTree[]): Promise<TreeComparison[]> {
  const out: TreeComparison[] = [];
  for (let j = 1; j < trees.length; j++)
    out.push(await compareWithEarlier(trees.slice(0, j), trees[j]!));
  return out;
}

/** Exclude patterns matching exactly these keys (glob.ts: anchored by a leading `/`). */
export function literalExcludes(keys: string[]): string[] {
  return keys.map((k) => `/${k.replace(/[*?[]/g, (c) => `[${c}]`)}`);
}

/** The conflicting keys, quoted, with the trees they differ between (the first `limit`). */
export function describeConflicts(comparisons: TreeComparison[], limit = 20): string {
  const all = comparisons.flatMap((c) =>
    c.conflicts.map((x) => `${JSON.stringify(x.key)} (${x.other} ≠ ${c.label})`),
  );
  const more = all.length > limit ? ` and ${all.length - limit} more` : '';
  return `${all.slice(0, limit).join(', ')}${more}`;
}

/** The comparison in one sentence per tree, for the plan and the logs. */
export function describeComparison(comparisons: TreeComparison[]): string {
  return comparisons
    .map((c) => {
      const conflicts = c.conflicts.length
        ? `${c.conflicts.length} in an earlier tree with different content (${describeConflicts([c])}): neither copy is overwritten with the other, and the cutover is blocked until each is resolved`
        : '0 in an earlier tree with different content';
      return `Compared on this runner: ${c.label}'s tree holds ${c.files} file(s); ${c.onlyHere} only there (copied to the bucket too), ${c.identical} identical to an earlier tree's (copied once), ${conflicts}.`;
    })
    .join(' ');
}

/** The conflicts as a refusal, or undefined when there are none. */
export function conflictRefusal(comparisons: TreeComparison[]): string | undefined {
  const n = comparisons.reduce((s, c) => s + c.conflicts.length, 0);
  if (n === 0) return undefined;
  return `${n} key(s) are in several storage trees with different content: ${describeConflicts(comparisons)}. Neither copy is overwritten with the other (the bulk copy puts the earlier tree's, the api's first, in the bucket). Decide which version Dify keeps: move the other copy out of its tree (the backup keeps it) or make both identical, then run again (docs/runbook.md, shape 3).`;
}

/** The sync state of a tree that is not the primary (the primary keeps the state directory's own). */
export function treeStateDir(stateDir: string, tree: Pick<StorageTree, 'slug'>): string {
  return path.join(stateDir, 'trees', tree.slug);
}

/** The trees a backup record names, at the directories they were taken of (one: the primary). */
export function recordTrees(record: BackupRecord): StorageTree[] {
  const trees = record.kubernetes.storageTrees;
  if (!trees?.length)
    return [{ label: 'storage', slug: 'storage', volume: '', dir: record.storageDir }];
  return trees.map((t) => ({
    label: t.label,
    slug: t.slug,
    volume: t.volume,
    ...(t.node ? { node: t.node } : {}),
    dir: t.storageDir,
  }));
}
