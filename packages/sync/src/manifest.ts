import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { comparePaths } from '@dify-storage/common';
import { SyncConfigError } from './errors.js';
import { RunSorter, type RunFormat, type RunMerge } from './journal-runs.js';
import { compareKeys } from './keys.js';

const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** One file of a manifest (the backup's per-file list); extra fields are ignored. */
export interface ManifestRecord {
  path: string;
  size: number;
  sha256?: string;
  md5?: string;
  mtime?: number | string;
  mode?: number;
}

/** A manifest: an NDJSON file, records in memory (any order), or records streamed in backup order. */
export type ManifestSource = string | Iterable<ManifestRecord> | AsyncIterable<ManifestRecord>;

/** Reads a manifest (NDJSON file path, or records) into a map by path. */
export async function loadManifest(source: ManifestSource): Promise<Map<string, ManifestRecord>> {
  const map = new Map<string, ManifestRecord>();
  for await (const r of manifestRecords(source)) map.set(r.path, r);
  return map;
}

/** The file records of a manifest (path without a leading `./`), validated, in the source's order. */
export async function* manifestRecords(source: ManifestSource): AsyncGenerator<ManifestRecord> {
  const check = (r: ManifestRecord, where: string): ManifestRecord | undefined => {
    // A backup manifest also lists directories and skipped entries: they have no object.
    const type = (r as { type?: unknown }).type;
    if (type !== undefined && type !== 'file') return undefined;
    if (typeof r?.path !== 'string' || typeof r.size !== 'number') {
      throw new SyncConfigError(
        `manifest ${where}: each record needs "path" (string) and "size" (number)`,
      );
    }
    return { ...r, path: r.path.replace(/^\.\//, '') };
  };
  let n = 0;
  if (typeof source !== 'string') {
    for await (const r of source as AsyncIterable<ManifestRecord>) {
      const rec = check(r, `record ${++n}`);
      if (rec) yield rec;
    }
    return;
  }
  const input = fs.createReadStream(source);
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      n++;
      if (!line.trim()) continue;
      let rec: ManifestRecord;
      try {
        rec = JSON.parse(line) as ManifestRecord;
      } catch {
        throw new SyncConfigError(`manifest ${source} line ${n} is not JSON`);
      }
      const r = check(rec, `${source} line ${n}`);
      if (r) yield r;
    }
  } catch (error) {
    if (error instanceof SyncConfigError) throw error;
    throw new SyncConfigError(`manifest ${source} cannot be read: ${(error as Error).message}`);
  } finally {
    rl.close();
    input.destroy(); // closes the file when the reader stops early
  }
}

/**
 * A manifest whose order the join cannot follow: a file out of backup order, or one whose
 * order and the listing's disagree over too many records (see ManifestJoin). The caller
 * then joins the manifest sorted in key order.
 */
export class ManifestOrderError extends Error {}

/** In what order a manifest's records come: the backup's (comparePaths) or the listing's. */
export type ManifestOrder = 'backup' | 'key';

/**
 * Records the join holds back at most before it gives up on the manifest's order: a directory
 * with a sibling named like it + a character below '/' (`upload_files.bak` beside
 * `upload_files`) puts every record of the directory there.
 */
export const manifestJoinLimits = { pending: 65_536 };

/**
 * A manifest's file records for a join with a listing: a file or an async source is streamed as
 * it is (a backup writes its manifest in comparePaths order, which `ManifestJoin` checks);
 * records given in memory (an array) are sorted into that order first (the caller holds them).
 */
export async function* sortedManifestRecords(
  source: ManifestSource,
): AsyncGenerator<ManifestRecord> {
  if (typeof source === 'string' || Symbol.asyncIterator in source) {
    yield* manifestRecords(source);
    return;
  }
  const all: ManifestRecord[] = [];
  for await (const r of manifestRecords(source)) all.push(r);
  // Stable: of two records of one path the later stays later (and wins, as in a Map).
  yield* all.sort((a, b) => comparePaths(a.path, b.path));
}

/**
 * The merge-join of a manifest with relative keys that arrive in S3 key order (a listing: `a-b`
 * before `a/x`), streamed. A backup's manifest is in backup order (comparePaths: `a/x` before
 * `a-b`); the two orders differ only where a directory `a` has a sibling `a` + a character below
 * '/': the records the join passes that a later key may still name wait in `pending` (in Dify's
 * layout, none), all others are settled at once. More than `pendingMax` waiting is refused
 * (ManifestOrderError): the caller joins the manifest sorted in key order instead, where
 * nothing waits. Memory: the current record and the pending ones. A path listed twice counts
 * once, with its later record (as in a Map).
 */
export class ManifestJoin {
  private readonly iter: AsyncIterator<ManifestRecord>;
  private readonly order: (a: string, b: string) => number;
  private current: ManifestRecord | undefined;
  private next: ManifestRecord | undefined;
  private started = false;
  /** Passed records a later key may still name, in key order, from `head` on. */
  private pending: ManifestRecord[] = [];
  private head = 0;
  private last: string | undefined;
  /** File records read so far (all of them after `finish`). */
  records = 0;

  constructor(
    records: AsyncIterable<ManifestRecord>,
    /** Each record no key named, once it is certain no later key can. */
    private readonly onUnmatched?: (r: ManifestRecord) => void,
    order: ManifestOrder = 'backup',
    private readonly pendingMax = manifestJoinLimits.pending,
  ) {
    this.iter = records[Symbol.asyncIterator]();
    this.order = order === 'backup' ? comparePaths : compareKeys;
  }

  /**
   * The join of a manifest: a file in backup order (a backup's) as it comes, one in another order
   * sorted outside memory first (a join answers before it can see a disorder further on); records
   * given in memory sorted, streamed ones as they come. Only a file can be read again in key order
   * (`resorted`) when its join fails, so only a file's pending records are bounded.
   */
  static async open(
    source: ManifestSource,
    onUnmatched?: (r: ManifestRecord) => void,
    /** The caller knows the file is a backup's own (its hash checked): no order pass. */
    backupsOwn = false,
  ): Promise<ManifestJoin> {
    if (typeof source !== 'string')
      return new ManifestJoin(sortedManifestRecords(source), onUnmatched, 'backup', Infinity);
    if (!backupsOwn && !(await inBackupOrder(source)))
      return ManifestJoin.resorted(source, onUnmatched);
    return new ManifestJoin(manifestRecords(source), onUnmatched, 'backup');
  }

  /** The join of a manifest file sorted outside memory in key order, after a ManifestOrderError. */
  static resorted(file: string, onUnmatched?: (r: ManifestRecord) => void): ManifestJoin {
    return new ManifestJoin(externallySortedManifest(file), onUnmatched, 'key');
  }

  /**
   * The record of `rel` (a key less the prefix), if the manifest has it. Keys must come in key
   * order; one that does not is answered from the pending records only.
   */
  async match(rel: string): Promise<ManifestRecord | undefined> {
    if (this.last !== undefined && compareKeys(rel, this.last) < 0) return this.takePending(rel);
    this.last = rel;
    // Taken first: `f?.(x)` does not evaluate x when f is undefined (no onUnmatched).
    while (this.head < this.pending.length && compareKeys(this.pending[this.head]!.path, rel) < 0)
      this.settle(this.takeHead());
    const waiting = this.takePending(rel);
    if (waiting) return waiting;
    if (!this.started) await this.advance();
    while (this.current && this.order(this.current.path, rel) < 0) {
      const r = this.current;
      if (compareKeys(r.path, rel) > 0) this.addPending(r);
      else this.onUnmatched?.(r);
      await this.advance();
    }
    if (this.current?.path !== rel) return undefined;
    const hit = this.current;
    await this.advance();
    return hit;
  }

  /** Stops reading the manifest (a file: closed). */
  async close(): Promise<void> {
    await this.iter.return?.();
  }

  /** Settles the rest of the manifest: every record not matched yet is unmatched. */
  async finish(): Promise<void> {
    while (this.head < this.pending.length) this.settle(this.takeHead());
    if (!this.started) await this.advance();
    while (this.current) {
      this.onUnmatched?.(this.current);
      await this.advance();
    }
  }

  /** The next record (the later of equal paths), checking the backup order. */
  private async advance(): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.next = await this.read();
    }
    let cur = this.next;
    this.next = cur && (await this.read());
    while (cur && this.next && this.next.path === cur.path) {
      cur = this.next;
      this.records--;
      this.next = await this.read();
    }
    if (cur && this.next && this.order(this.next.path, cur.path) < 0) {
      throw new ManifestOrderError(
        `the manifest is not in order: "${this.next.path}" after "${cur.path}"`,
      );
    }
    this.current = cur;
  }

  private async read(): Promise<ManifestRecord | undefined> {
    const n = await this.iter.next();
    if (n.done) return undefined;
    this.records++;
    return n.value;
  }

  private indexOf(rel: string): number {
    let a = this.head;
    let b = this.pending.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (compareKeys(this.pending[m]!.path, rel) < 0) a = m + 1;
      else b = m;
    }
    return a;
  }

  private addPending(r: ManifestRecord): void {
    if (this.pending.length - this.head >= this.pendingMax) {
      throw new ManifestOrderError(
        `more than ${this.pendingMax} manifest records wait between the manifest's order and the listing's (at "${r.path}")`,
      );
    }
    // Nearly always at the end: within a directory the two orders agree.
    this.pending.splice(this.indexOf(r.path), 0, r);
  }

  private settle(r: ManifestRecord): void {
    this.onUnmatched?.(r);
  }

  /** The first pending record; the array is compacted once half of it is taken. */
  private takeHead(): ManifestRecord {
    const r = this.pending[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return r;
  }

  private takePending(rel: string): ManifestRecord | undefined {
    const i = this.indexOf(rel);
    if (this.pending[i]?.path !== rel) return undefined;
    // The keys take pending records in key order: nearly always the first.
    return i === this.head ? this.takeHead() : this.pending.splice(i, 1)[0];
  }
}

/** One line of md5sum format (what `rclone check --checkfile MD5` reads). */
export function md5Line(md5hex: string, relPath: string): string {
  return `${md5hex}  ${relPath}\n`;
}

/** Whether a manifest file's records are in backup order (one streaming pass). */
export async function inBackupOrder(file: string): Promise<boolean> {
  let last: string | undefined;
  for await (const r of manifestRecords(file)) {
    if (last !== undefined && comparePaths(r.path, last) < 0) return false;
    last = r.path;
  }
  return true;
}

/** A manifest's records as sorted runs hold them, in the listing's order (ManifestJoin 'key'). */
const MANIFEST_RUNS: RunFormat<ManifestRecord> = {
  parse: (line) => JSON.parse(line) as ManifestRecord,
  line: (r) => JSON.stringify(r),
  key: (r) => r.path,
  compare: compareKeys,
};

/**
 * A manifest file's records in key order (the listing's) whatever order it has: sorted outside
 * memory, in runs of a private temporary directory (unlinked once opened), then merged. For a
 * manifest the join cannot follow in its own order (ManifestOrderError). A path listed twice
 * counts once, with its later record.
 */
export async function* externallySortedManifest(file: string): AsyncGenerator<ManifestRecord> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-manifest-sort-'));
  let n = 0;
  const createRun = (): number => {
    const run = path.join(dir, `run-${n++}`);
    const fd = fs.openSync(run, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    fs.unlinkSync(run);
    return fd;
  };
  const sorter = new RunSorter(createRun, MANIFEST_RUNS);
  let merged: RunMerge<ManifestRecord> | undefined;
  try {
    for await (const r of manifestRecords(file)) sorter.add(r.path, JSON.stringify(r));
    merged = sorter.finish();
  } catch (error) {
    sorter.abort();
    throw error;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  try {
    for (let r = merged?.next(); r; r = merged!.next()) yield r;
  } finally {
    merged?.close();
  }
}
