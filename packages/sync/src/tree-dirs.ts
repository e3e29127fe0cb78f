import fs from 'node:fs';
import { DirHandle, sameIdentity, type FileIdentity } from '@dify-storage/common';

/** An object the tree cannot take without leaving the root or replacing a restored entry. */
export class RefusedError extends Error {}

/** Directories held open (fds); the least recently used is closed past this. */
const OPEN_DIRS_MAX = 128;
/** Renamed-into directories whose fsync is batched (durable before the run returns). */
const DIR_SYNC_BATCH = 256;

interface OpenDir {
  handle: DirHandle;
  /** What was opened: the entry still at its name must be this directory for a write. */
  id: FileIdentity;
}

/**
 * The directories of a tree written as root while a Dify pod can write to it (the rollback's
 * copy back). Node has no openat: each directory is opened O_NOFOLLOW|O_DIRECTORY through its
 * parent's fd (`/proc/self/fd/N/name`, safe-fs.ts), never by path from the root, so a directory
 * swapped for a symlink is refused, not followed, and files are opened, created and renamed
 * through the handle of their directory. The open directories are kept (LRU): a file's
 * directory costs a Map lookup, not an open per component (99,000 local checks at 100k).
 */
export class TreeDirs {
  private readonly open = new Map<string, OpenDir>();
  private readonly toSync = new Set<DirHandle>();
  /** Closed, the fd numbers may be anything's: a download still running must not use them. */
  private closed = false;

  private constructor(private readonly root: DirHandle) {}

  static async openRoot(root: string): Promise<TreeDirs> {
    return new TreeDirs(await DirHandle.openRoot(root));
  }

  /**
   * For a read: the held directory `relDir` ('' is the root), or undefined when it is missing.
   * A held handle is used as it is: whatever its path became, it is a directory of the tree.
   * Not retained: use it before the next await.
   */
  find(relDir: string): DirHandle | undefined {
    this.assertOpen();
    if (relDir === '') return this.root;
    const held = this.open.get(relDir);
    if (held) return this.touch(relDir, held);
    const parent = this.find(parentDir(relDir));
    return parent && this.openDir(parent, relDir, false);
  }

  /**
   * For a write: `relDir` checked again from the root (each held directory must still be the
   * entry at its name: an lstat through its parent's handle), created when missing if `create`.
   * A symlink or a file on the way is refused. Not retained: retain it before an await.
   */
  reach(relDir: string, create: boolean): DirHandle | undefined {
    this.assertOpen();
    let dir = this.root;
    if (relDir === '') return dir;
    let slash = -1;
    do {
      slash = relDir.indexOf('/', slash + 1);
      const rel = slash < 0 ? relDir : relDir.slice(0, slash);
      const next = this.stillThere(dir, rel) ?? this.openDir(dir, rel, create);
      if (!next) return undefined;
      dir = next;
    } while (slash >= 0);
    return dir;
  }

  /** Records a rename into `dir`: its fsync is batched, done before `close` returns. */
  async renamedInto(dir: DirHandle): Promise<void> {
    if (!this.toSync.has(dir)) this.toSync.add(dir.retain());
    if (this.toSync.size >= DIR_SYNC_BATCH) await this.syncDirs();
  }

  /** Makes the renames durable, then closes every directory. */
  async close(): Promise<void> {
    this.closed = true;
    await this.syncDirs();
    for (const { handle } of this.open.values()) handle.release();
    this.open.clear();
    this.root.release();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the run is over: its directories are closed');
  }

  private async syncDirs(): Promise<void> {
    const dirs = [...this.toSync];
    this.toSync.clear();
    for (const dir of dirs) {
      await new Promise<void>((resolve) => fs.fsync(dir.fd, () => resolve()));
      dir.release();
    }
  }

  /** The held handle of `rel` when the entry at its name in `parent` is still that directory. */
  private stillThere(parent: DirHandle, rel: string): DirHandle | undefined {
    const held = this.open.get(rel);
    if (!held) return undefined;
    const st = classify(parent, rel);
    if (st && sameIdentity(st, held.id)) return this.touch(rel, held);
    // Replaced or removed: what was reached through it is stale too.
    for (const [key, { handle }] of this.open)
      if (key === rel || key.startsWith(`${rel}/`)) {
        this.open.delete(key);
        handle.release();
      }
    return undefined;
  }

  /** Opens (and holds) the directory `rel` in `parent`; creates it first when asked. */
  private openDir(parent: DirHandle, rel: string, create: boolean): DirHandle | undefined {
    let handle: DirHandle;
    try {
      handle = parent.openSubdirSync(baseName(rel));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw refusalOr(error, parent, rel);
      if (!create) return undefined;
      handle = created(parent, rel);
    }
    let id: FileIdentity;
    try {
      id = fs.fstatSync(handle.fd, { bigint: true });
    } catch (error) {
      handle.release();
      throw error;
    }
    if (this.open.size >= OPEN_DIRS_MAX) {
      const [oldest, { handle: evicted }] = this.open.entries().next().value!;
      this.open.delete(oldest);
      evicted.release();
    }
    this.open.set(rel, { handle, id });
    return handle;
  }

  private touch(rel: string, held: OpenDir): DirHandle {
    this.open.delete(rel);
    this.open.set(rel, held);
    return held.handle;
  }
}

/** Creates the directory `rel` in `parent` and opens it (a symlink planted between: refused). */
function created(parent: DirHandle, rel: string): DirHandle {
  const name = baseName(rel);
  try {
    // mkdir does not follow a symlink at its last component (EEXIST); the open below refuses it.
    fs.mkdirSync(parent.entryPath(name));
    return parent.openSubdirSync(name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw refusalOr(error, parent, rel);
  }
  try {
    return parent.openSubdirSync(name);
  } catch (error) {
    throw refusalOr(error, parent, rel);
  }
}

/**
 * The entry `rel` of `parent` when it is a directory, undefined when there is none; a symlink
 * or a file there is refused.
 */
function classify(parent: DirHandle, rel: string): fs.BigIntStats | undefined {
  const st = fs.lstatSync(parent.entryPath(baseName(rel)), { bigint: true, throwIfNoEntry: false });
  if (st?.isSymbolicLink()) throw new RefusedError(`path passes through a symlink (${rel})`);
  // An object under a key that is a restored file: refused like a hostile key, not a failure.
  if (st && !st.isDirectory())
    throw new RefusedError(`collides with the file ${rel}; the object is not written`);
  return st;
}

/** The refusal an open of `rel` met (symlink, file), or the error itself. */
function refusalOr(error: unknown, parent: DirHandle, rel: string): unknown {
  try {
    classify(parent, rel);
  } catch (refusal) {
    return refusal;
  }
  return error;
}

/** The parent of a relative directory ('' for the root's children). */
function parentDir(relDir: string): string {
  return splitRel(relDir)[0];
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** A relative path's directory ('' for the root) and name. */
export function splitRel(rel: string): [dir: string, name: string] {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? ['', rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
}
