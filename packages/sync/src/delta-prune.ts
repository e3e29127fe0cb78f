/**
 * The freeze-window delta: list only the directories that can hold something new since the last
 * complete copy, so the final pass grows with the changes, not with the tree.
 *
 * Why a directory whose mtime (and ctime) is older than the last complete copy's start, less a
 * margin, holds nothing new: Dify 1.3.0 writes every file under a fresh key (uuid4 names:
 * upload_files, image_files, tools, ops_trace; dify-1.3.0-fidelity.md §1, §2, §5, §6, §9), and
 * creating, deleting or renaming an entry sets its directory's mtime and ctime. What it rewrites
 * under the same key never touches the directory: OpenDAL `fs` writes with create+truncate and no
 * temp file (opendal core/src/services/fs/backend.rs:469-511 @v0.53.0, fidelity §3), which
 * `flask reset-encrypt-key-pair` does to every `privkeys/<tenant>/private.pem` (api/commands.py:
 * 102-141, libs/rsa.py:19-21; §7). `keyword_files/<tenant>/<dataset>.txt` is deleted and saved
 * again (rag/datasource/keyword/jieba/jieba.py:140-143; §8), which does touch the directory; both
 * trees are listed, and every file in them stat'ed, on every delta anyway. So is every file of a
 * directory that changed, and of one where the last run saw a file being written.
 *
 * ctime too: a directory's mtime can be set back (utimes, tar, rsync -t), its ctime cannot. The
 * margin covers coarse timestamps (1 s on ext3, 2 s on FAT) and clock steps. It holds for
 * node-local filesystems only: on NFS/SMB/FUSE another client's write and attribute caching defeat
 * it, so there (detected by statfs, or said by the caller) the delta walks the whole tree.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { DirHandle } from '@dify-storage/common';
import type { KeyMatcher } from './glob.js';
import { compareKeys } from './keys.js';
import {
  openStateReadStream,
  recordOfFile,
  type FileRecord,
  type SyncState,
  type Watermark,
} from './state.js';
import type { ObjectInfo } from './transport.js';
import {
  readDir,
  walkTree,
  type UnsupportedReason,
  type WalkEntry,
  type WalkHooks,
} from './walk.js';

/** Top-level trees Dify rewrites in place (or deletes and saves again): always listed. */
export const ALWAYS_LISTED = ['privkeys', 'keyword_files'] as const;

/** Default safety margin before the last copy's start (coarse timestamps, clock steps). */
export const DEFAULT_DELTA_MARGIN_MS = 60_000;

/** statfs f_type of filesystems whose directory times another client can change unseen. */
const NETWORK_FS = new Map<number, string>([
  [0x6969, 'NFS'],
  [0x517b, 'SMB'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x65735546, 'FUSE'],
  [0x00c36400, 'CephFS'],
  [0x01021997, '9P'],
  [0x0bd00bd0, 'Lustre'],
  [0x01161970, 'GFS2'],
  [0x7461636f, 'OCFS2'],
  [0x5346414f, 'AFS'],
]);

/** What the delta did, for the report and the job summary. */
export interface DeltaScan {
  /** `pruned`: only changed directories were listed; `full`: the whole tree was walked. */
  strategy: 'pruned' | 'full';
  /** Why the whole tree was walked. */
  reason?: string;
  /** The last complete copy's start (ISO) the delta compared directory times with. */
  since?: string;
  dirsKnown: number;
  dirsListed: number;
  dirsNew: number;
  dirsPruned: number;
  filesStated: number;
  /** Files the database names as created since then (upload_files, new tenants' keys). */
  namedByDatabase: number;
  /** Of those, the ones not found in the tree (a sample). */
  namedMissing: string[];
}

export function emptyScan(strategy: DeltaScan['strategy'], reason?: string): DeltaScan {
  return {
    strategy,
    ...(reason ? { reason } : {}),
    dirsKnown: 0,
    dirsListed: 0,
    dirsNew: 0,
    dirsPruned: 0,
    filesStated: 0,
    namedByDatabase: 0,
    namedMissing: [],
  };
}

/** ms → the ns cutoff directory and file times are compared with. */
export function cutoffNs(startedAtMs: number, marginMs: number): bigint {
  return BigInt(Math.floor(startedAtMs - marginMs)) * 1_000_000n;
}

/** Changed since the cutoff: the later of mtime and ctime (ctime cannot be set back). */
export function touchedSince(st: { mtimeNs: bigint; ctimeNs: bigint }, cutoff: bigint): boolean {
  return st.mtimeNs >= cutoff || st.ctimeNs >= cutoff;
}

/** A reason the tree's directory times cannot be trusted, or undefined when they can. */
export function networkFilesystem(root: string): string | undefined {
  try {
    const type = Number(fs.statfsSync(root).type) >>> 0;
    const name = NETWORK_FS.get(type);
    return name ? `the storage root is on ${name}` : undefined;
  } catch {
    return "the storage root's filesystem type could not be read";
  }
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function within(dir: string, rel: string): boolean {
  return dir === '' || rel === dir || rel.startsWith(`${dir}/`);
}

/**
 * Records the directories a complete walk went through, with a `hot` flag for a directory where
 * something was written around the run's start (the next delta lists it whatever its times say):
 * a line `[rel, hot]` per directory, written when the walk leaves it.
 */
export class DirRecorder {
  private readonly stack: { rel: string; hot: boolean }[] = [{ rel: '', hot: false }];

  constructor(
    private readonly state: SyncState,
    private readonly cutoff: bigint,
  ) {}

  see(entry: WalkEntry): void {
    if (entry.kind === 'file') {
      this.enter(parentOf(entry.rel));
      if (touchedSince(entry.stat, this.cutoff)) this.top().hot = true;
    } else if (entry.kind === 'empty-dir') {
      this.enter(entry.rel.slice(0, -1));
    } else if (entry.kind === 'excluded') {
      this.enter(parentOf(entry.rel));
    } else {
      // Unsupported (vanished, changed during the walk, unreadable): look again next time.
      this.enter(parentOf(entry.rel.replace(/\/$/, '')));
      this.top().hot = true;
    }
  }

  /** After the walk: the directories still open. */
  end(): void {
    while (this.stack.length > 0) this.emit(this.stack.pop()!);
  }

  private top(): { rel: string; hot: boolean } {
    return this.stack[this.stack.length - 1]!;
  }

  private enter(dir: string): void {
    while (this.stack.length > 1 && !within(this.top().rel, dir)) this.emit(this.stack.pop()!);
    const from = this.top().rel;
    if (from === dir) return;
    const rest = (from === '' ? dir : dir.slice(from.length + 1)).split('/');
    let rel = from;
    for (const name of rest) {
      rel = rel === '' ? name : `${rel}/${name}`;
      this.stack.push({ rel, hot: false });
    }
  }

  private emit(d: { rel: string; hot: boolean }): void {
    this.state.recordDir(JSON.stringify([d.rel, d.hot ? 1 : 0]));
  }
}

/** A directory of the last complete copy: its subdirectories then, and whether it was hot. */
export interface DirNode {
  hot: boolean;
  children: Map<string, DirNode>;
}

/** Reads a dirs list into a tree (directories only: thousands of nodes for a million files). */
export async function loadDirTree(file: string): Promise<DirNode> {
  const nodes = new Map<string, DirNode>();
  const node = (rel: string): DirNode => {
    let n = nodes.get(rel);
    if (!n) {
      n = { hot: false, children: new Map() };
      nodes.set(rel, n);
      if (rel !== '') node(parentOf(rel)).children.set(rel.slice(rel.lastIndexOf('/') + 1), n);
    }
    return n;
  };
  node('');
  // Never through a symlink planted in the state directory (state.ts).
  const input = openStateReadStream(file);
  if (!input) throw Object.assign(new Error(`${file} is missing`), { code: 'ENOENT' });
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    const [rel, hot] = JSON.parse(line) as [string, number];
    node(rel).hot ||= hot === 1;
  }
  return nodes.get('')!;
}

export interface PruneOptions {
  root: string;
  tree: DirNode;
  watermark: Watermark;
  /** This run's start: what the hot flags of the new dirs list are measured against. */
  startedAtMs: number;
  marginMs: number;
  exclude?: KeyMatcher | undefined;
  /** Paths (relative, fs form) the database names as new: their directories are listed. */
  named: readonly string[];
  state: SyncState;
  scan: DeltaScan;
  /** Set: files whose journal record fits are counted through it and not yielded. */
  unchanged?: Unchanged;
}

/** The object key of a path, and what to do with a file the journal proves unchanged. */
export interface Unchanged {
  keyOf: (rel: string) => string;
  count: (size: number) => void;
}

/**
 * The pruned walk: yields, in S3 key order, every file of the directories that can hold
 * something new (changed, new, hot, always listed, or named by the database), stat'ed; goes
 * through the others without listing them. Writes this run's dirs list as it goes.
 */
export async function* prunedTree(o: PruneOptions): AsyncGenerator<WalkEntry> {
  const walk = new PrunedWalk(o);
  const root = await DirHandle.openRoot(o.root);
  try {
    yield* walk.visit(root, '', o.tree);
  } finally {
    root.release();
  }
  const missing = walk.namedLeft();
  o.scan.namedMissing = missing.slice(0, 100);
}

class PrunedWalk {
  private readonly since: bigint;
  private readonly hotFrom: bigint;
  /** Directories to list because the database names a new file in them (ancestors included). */
  private readonly forced = new Set<string>();
  private readonly namedLeftSet: Set<string>;

  constructor(private readonly o: PruneOptions) {
    this.since = cutoffNs(o.watermark.startedAtMs, o.marginMs);
    this.hotFrom = cutoffNs(o.startedAtMs, o.marginMs);
    this.namedLeftSet = new Set(o.named);
    o.scan.namedByDatabase = this.namedLeftSet.size;
    for (const p of o.named) {
      for (let d = parentOf(p); ; d = parentOf(d)) {
        this.forced.add(d);
        if (d === '') break;
      }
    }
  }

  namedLeft(): string[] {
    return [...this.namedLeftSet];
  }

  private mustList(rel: string, node: DirNode | undefined, st: fs.BigIntStats): boolean {
    if (!node || node.hot || this.forced.has(rel)) return true;
    const top = rel.split('/', 1)[0]!;
    if ((ALWAYS_LISTED as readonly string[]).includes(top)) return true;
    return touchedSince(st, this.since);
  }

  async *visit(dir: DirHandle, rel: string, node: DirNode | undefined): AsyncGenerator<WalkEntry> {
    const scan = this.o.scan;
    if (node) scan.dirsKnown++;
    else scan.dirsNew++;
    const st = fs.fstatSync(dir.fd, { bigint: true });
    let hot = false;
    if (!this.mustList(rel, node, st)) {
      scan.dirsPruned++;
      const names = [...node!.children.keys()].sort((a, b) => compareKeys(`${a}/`, `${b}/`));
      for (const name of names) yield* this.child(dir, rel, name, node!.children.get(name));
    } else {
      scan.dirsListed++;
      hot = yield* this.list(dir, rel, node);
    }
    this.o.state.recordDir(JSON.stringify([rel, hot ? 1 : 0]));
  }

  /** Lists a directory: its files stat'ed and yielded, its subdirectories visited, in key order. */
  private async *list(
    dir: DirHandle,
    rel: string,
    node: DirNode | undefined,
  ): AsyncGenerator<WalkEntry, boolean> {
    const listed = await readDir(dir);
    const relOf = (name: string): string => (rel === '' ? name : `${rel}/${name}`);
    if (listed.error) {
      yield { kind: 'unsupported', rel: `${rel}/`, reason: 'unreadable', detail: listed.error };
      return true;
    }
    if (listed.entries.length === 0 && rel !== '') yield { kind: 'empty-dir', rel: `${rel}/` };
    let hot = false;
    for (const e of listed.entries) {
      const r = relOf(e.name);
      if (e.type === 'dir') {
        if (this.o.exclude?.(r, true)) yield { kind: 'excluded', rel: r, isDir: true };
        else yield* this.child(dir, rel, e.name, node?.children.get(e.name));
        continue;
      }
      if (e.type !== 'file') {
        hot = true;
        yield { kind: 'unsupported', rel: r, reason: e.reason ?? 'device' };
        continue;
      }
      if (this.o.exclude?.(r, false)) {
        yield { kind: 'excluded', rel: r, isDir: false };
        continue;
      }
      this.namedLeftSet.delete(r);
      const entry = this.statFile(dir, r, e.name);
      if (entry.kind !== 'file' || touchedSince(entry.stat, this.hotFrom)) hot = true;
      if (entry.kind === 'file' && (await this.provenUnchanged(entry.rel, entry.stat))) continue;
      yield entry;
    }
    return hot;
  }

  /**
   * The journal's record fits (size, mtime, inode): the copy in the bucket is this file's; the
   * same test as decide()'s `skip`, done here so that the thousands of unchanged files of a listed
   * directory cost a stat and a lookup, not a trip through the pipeline.
   */
  private async provenUnchanged(rel: string, st: fs.BigIntStats): Promise<boolean> {
    const u = this.o.unchanged;
    if (!u) return false;
    const rec = await this.o.state.lookup(u.keyOf(rel));
    const size = Number(st.size);
    if (!rec || !recordOfFile(rec, st)) return false;
    u.count(size);
    return true;
  }

  private statFile(dir: DirHandle, rel: string, name: string): WalkEntry {
    this.o.scan.filesStated++;
    let st: fs.BigIntStats;
    try {
      // Blocking lstat: a fraction of the CPU of a threadpool round trip, and the delta is CPU-bound.
      st = fs.lstatSync(dir.entryPath(name), { bigint: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason: UnsupportedReason = code === 'ENOENT' ? 'vanished' : 'unreadable';
      return { kind: 'unsupported', rel, reason, detail: (error as Error).message };
    }
    if (!st.isFile())
      return { kind: 'unsupported', rel, reason: st.isSymbolicLink() ? 'symlink' : 'device' };
    return { kind: 'file', rel, abs: dir.entryPath(name), dir, stat: st };
  }

  /** Opens a subdirectory through its parent (never following a symlink) and visits it. */
  private async *child(
    parent: DirHandle,
    rel: string,
    name: string,
    node: DirNode | undefined,
  ): AsyncGenerator<WalkEntry> {
    const r = rel === '' ? name : `${rel}/${name}`;
    let sub: DirHandle;
    try {
      sub = await parent.openSubdir(name);
    } catch (error) {
      // Gone since the last copy (its parent changed then, and is listed): nothing to copy.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      yield {
        kind: 'unsupported',
        rel: `${r}/`,
        reason: 'unreadable',
        detail: (error as Error).message,
      };
      return;
    }
    try {
      yield* this.visit(sub, r, node);
    } finally {
      sub.release();
    }
  }
}

/** In a pruned delta the journal stands in for the listing: the object its record says is there. */
function journalObject(rec: FileRecord | undefined): ObjectInfo | undefined {
  return rec ? { key: rec.key, size: rec.size, etag: rec.etag, lastModified: '' } : undefined;
}

/** march() of a pruned delta: each entry with the object the journal records for its key. */
export async function* journalMarch<T>(
  items: AsyncIterable<T>,
  keyOf: (item: T) => string | undefined,
  state: SyncState,
): AsyncGenerator<{ item: T; key: string | undefined; object: ObjectInfo | undefined }> {
  for await (const item of items) {
    const key = keyOf(item);
    yield {
      item,
      key,
      object: key === undefined ? undefined : journalObject(await state.lookup(key)),
    };
  }
}

/** How a delta may prune (SyncToBucketOptions.delta). */
export interface DeltaOptions {
  /**
   * List only directories that can hold changes (default true). Say false for a volume that is not
   * node-local (NFS, another node's disk); a network filesystem under the root is detected anyway.
   */
  prune?: boolean;
  /** Safety margin before the last complete copy's start (default 60 s). */
  marginMs?: number;
  /**
   * Paths (relative, in their fs form) the database names as created since a time: their
   * directories are listed whatever their times say.
   */
  namedSince?: (since: Date) => Promise<readonly string[]>;
}

export type DeltaBase =
  | { watermark: Watermark; named: readonly string[]; scan: DeltaScan }
  | { watermark?: undefined; scan: DeltaScan };

/** Whether this run can prune, from what, or why it walks the whole tree. */
export async function deltaBase(
  root: string,
  watermark: Watermark | undefined,
  exclude: readonly string[],
  o: DeltaOptions,
): Promise<DeltaBase> {
  const full = (reason: string): DeltaBase => ({ scan: emptyScan('full', reason) });
  if (o.prune === false)
    return full('the volume is not node-local (directory times cannot be trusted)');
  if (!watermark) return full('no complete copy recorded in the state directory');
  if (JSON.stringify(watermark.exclude) !== JSON.stringify([...exclude]))
    return full('the exclude globs differ from the last complete copy');
  const network = networkFilesystem(root);
  if (network) return full(network);
  const marginMs = o.marginMs ?? DEFAULT_DELTA_MARGIN_MS;
  let named: readonly string[] = [];
  if (o.namedSince) {
    try {
      named = await o.namedSince(new Date(watermark.startedAtMs - marginMs));
    } catch (error) {
      return full(`the database could not be read (${(error as Error).message})`);
    }
  }
  const scan = emptyScan('pruned');
  scan.since = new Date(watermark.startedAtMs).toISOString();
  return { watermark, named, scan };
}

/** The walk of one run: pruned from a delta base, or the whole tree (recording its directories). */
export interface RunWalk {
  tree: AsyncGenerator<WalkEntry>;
  /** Set on a whole-tree walk with a state: feed it every entry. */
  recorder?: DirRecorder;
  pruned: boolean;
  startedAtMs: number;
  scan: DeltaScan | undefined;
}

export async function runWalk(o: {
  root: string;
  base: DeltaBase | undefined;
  state: SyncState | undefined;
  exclude: KeyMatcher | undefined;
  delta?: DeltaOptions | undefined;
  hooks?: WalkHooks | undefined;
  /** Files up to this size are read with blocking calls; above 0 the walk's stats block too. */
  syncReadMax?: number | undefined;
  /** A pruned walk's unchanged file (its journal record fits): counted, not yielded. */
  unchanged?: Unchanged;
}): Promise<RunWalk> {
  const startedAtMs = Date.now();
  const marginMs = o.delta?.marginMs ?? DEFAULT_DELTA_MARGIN_MS;
  const base = o.base;
  if (base?.watermark && o.state) {
    const tree = await loadDirTree(o.state.pathOf('dirs.ndjson'));
    return {
      tree: prunedTree({
        root: o.root,
        tree,
        watermark: base.watermark,
        startedAtMs,
        marginMs,
        exclude: o.exclude,
        named: base.named,
        state: o.state,
        scan: base.scan,
        ...(o.unchanged ? { unchanged: o.unchanged } : {}),
      }),
      pruned: true,
      startedAtMs,
      scan: base.scan,
    };
  }
  return {
    tree: walkTree(o.root, o.exclude, o.hooks, { blocking: (o.syncReadMax ?? 1) > 0 }),
    ...(o.state ? { recorder: new DirRecorder(o.state, cutoffNs(startedAtMs, marginMs)) } : {}),
    pruned: false,
    startedAtMs,
    scan: base?.scan,
  };
}
