import { createHash } from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';
import { comparePaths } from '@dify-storage/common';
import { SyncConfigError } from './errors.js';
import { compareKeys } from './keys.js';

/** One file of a manifest (the backup's per-file list); extra fields are ignored. */
export interface ManifestRecord {
  path: string;
  size: number;
  sha256?: string;
  md5?: string;
  mtime?: number | string;
  mode?: number;
}

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
  const rl = readline.createInterface({ input: fs.createReadStream(source), crlfDelay: Infinity });
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
  }
}

/** A manifest file whose records are not in the backup's order (comparePaths). */
export class ManifestOrderError extends Error {}

/**
 * A manifest's file records for a join with a listing: a file is streamed as it is (a backup
 * writes it in comparePaths order, which `ManifestJoin` checks); records given in memory are
 * sorted into that order first (the caller holds them already).
 */
export async function* sortedManifestRecords(
  source: ManifestSource,
): AsyncGenerator<ManifestRecord> {
  if (typeof source === 'string') {
    yield* manifestRecords(source);
    return;
  }
  const all: ManifestRecord[] = [];
  for await (const r of manifestRecords(source)) all.push(r);
  // Stable: of two records of one path the later stays later (and wins, as in a Map).
  yield* all.sort((a, b) => comparePaths(a.path, b.path));
}

/**
 * The merge-join of a manifest in backup order (comparePaths: `a/x` before `a-b`) with relative
 * keys that arrive in S3 key order (a listing: `a-b` before `a/x`), streamed. The two orders
 * differ only where a directory `a` has a sibling `a` + a character below '/': the records the
 * join passes that a later key may still name wait in `pending` (in Dify's layout, none), all
 * others are settled at once. Memory: the current record and the pending ones, whatever the size
 * of the manifest. A path listed twice counts once, with its later record (as in a Map).
 */
export class ManifestJoin {
  private readonly iter: AsyncIterator<ManifestRecord>;
  private current: ManifestRecord | undefined;
  private next: ManifestRecord | undefined;
  private started = false;
  /** Passed records a later key may still name, in key order. */
  private readonly pending: ManifestRecord[] = [];
  private last: string | undefined;
  /** File records read so far (all of them after `finish`). */
  records = 0;

  constructor(
    records: AsyncIterable<ManifestRecord>,
    /** Each record no key named, once it is certain no later key can. */
    private readonly onUnmatched?: (r: ManifestRecord) => void,
  ) {
    this.iter = records[Symbol.asyncIterator]();
  }

  /**
   * The record of `rel` (a key less the prefix), if the manifest has it. Keys must come in key
   * order; one that does not is answered from the pending records only.
   */
  async match(rel: string): Promise<ManifestRecord | undefined> {
    if (this.last !== undefined && compareKeys(rel, this.last) < 0) return this.takePending(rel);
    this.last = rel;
    while (this.pending.length && compareKeys(this.pending[0]!.path, rel) < 0)
      this.onUnmatched?.(this.pending.shift()!);
    const waiting = this.takePending(rel);
    if (waiting) return waiting;
    if (!this.started) await this.advance();
    while (this.current && comparePaths(this.current.path, rel) < 0) {
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

  /** Settles the rest of the manifest: every record not matched yet is unmatched. */
  async finish(): Promise<void> {
    for (const r of this.pending.splice(0)) this.onUnmatched?.(r);
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
    if (cur && this.next && comparePaths(this.next.path, cur.path) < 0) {
      throw new ManifestOrderError(
        `the manifest is not in backup order: "${this.next.path}" after "${cur.path}"`,
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
    let a = 0;
    let b = this.pending.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (compareKeys(this.pending[m]!.path, rel) < 0) a = m + 1;
      else b = m;
    }
    return a;
  }

  private addPending(r: ManifestRecord): void {
    this.pending.splice(this.indexOf(r.path), 0, r);
  }

  private takePending(rel: string): ManifestRecord | undefined {
    const i = this.indexOf(rel);
    return this.pending[i]?.path === rel ? this.pending.splice(i, 1)[0] : undefined;
  }
}

/** One line of md5sum format (what `rclone check --checkfile MD5` reads). */
export function md5Line(md5hex: string, relPath: string): string {
  return `${md5hex}  ${relPath}\n`;
}

/** Grows by doubling; `view()` is the filled part. */
class Grow<T extends Uint8Array | Uint32Array | Float64Array> {
  private n = 0;
  constructor(
    private arr: T,
    private readonly width: number,
    private readonly make: (len: number) => T,
  ) {}
  slot(): number {
    if ((this.n + 1) * this.width > this.arr.length) {
      const next = this.make(this.arr.length * 2);
      next.set(this.arr);
      this.arr = next;
    }
    return this.n++ * this.width;
  }
  get data(): T {
    return this.arr;
  }
}

const MD5_SET = 1;
const SHA_SET = 2;

/**
 * A manifest's file records keyed by a 64-bit hash of the path, in typed arrays (≈ 70 bytes a
 * file, no path or object per file): what the reverse sync looks records up in, so a million-file
 * backup does not sit in memory as a Map of strings. A false match needs a 64-bit collision and
 * then equal sizes and hashes of content; it can only make a restore copy an object needlessly.
 */
export class ManifestTable {
  private constructor(
    private readonly hi: Uint32Array,
    private readonly lo: Uint32Array,
    private readonly sizes: Float64Array,
    private readonly flags: Uint8Array,
    private readonly md5: Uint8Array,
    private readonly sha: Uint8Array,
    /** Record indices sorted by (hi, lo); among equal hashes the later record last. */
    private readonly order: Uint32Array,
  ) {}

  get size(): number {
    return this.order.length;
  }

  static async load(source: ManifestSource): Promise<ManifestTable> {
    // Sized from the file's line count: growing by doubling would hold two copies at the peak.
    const cap = Math.max(1024, typeof source === 'string' ? await countLines(source) : 0);
    const hi = new Grow(new Uint32Array(cap), 1, (n) => new Uint32Array(n));
    const lo = new Grow(new Uint32Array(cap), 1, (n) => new Uint32Array(n));
    const sizes = new Grow(new Float64Array(cap), 1, (n) => new Float64Array(n));
    const flags = new Grow(new Uint8Array(cap), 1, (n) => new Uint8Array(n));
    const md5 = new Grow(new Uint8Array(cap * 16), 16, (n) => new Uint8Array(n));
    const sha = new Grow(new Uint8Array(cap * 32), 32, (n) => new Uint8Array(n));
    let n = 0;
    for await (const r of manifestRecords(source)) {
      const h = pathHash(r.path);
      const i = hi.slot();
      lo.slot();
      sizes.slot();
      flags.slot();
      hi.data[i] = h.readUInt32BE(0);
      lo.data[i] = h.readUInt32BE(4);
      sizes.data[i] = r.size;
      let f = 0;
      // slot() first: it may grow (replace) the array.
      const m = md5.slot();
      const h2 = sha.slot();
      if (copyHex(r.md5, 16, md5.data, m)) f |= MD5_SET;
      if (copyHex(r.sha256, 32, sha.data, h2)) f |= SHA_SET;
      flags.data[i] = f;
      n++;
    }
    const H = hi.data;
    const L = lo.data;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => H[a]! - H[b]! || L[a]! - L[b]! || a - b);
    return new ManifestTable(H, L, sizes.data, flags.data, md5.data, sha.data, order);
  }

  /** The record of `path`, if the manifest lists it as a file. */
  get(path: string): ManifestRecord | undefined {
    const h = pathHash(path);
    const hi = h.readUInt32BE(0);
    const lo = h.readUInt32BE(4);
    let a = 0;
    let b = this.order.length - 1;
    let found = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      const i = this.order[m]!;
      const c = this.hi[i]! - hi || this.lo[i]! - lo;
      if (c <= 0) {
        if (c === 0) found = i;
        a = m + 1;
      } else b = m - 1;
    }
    if (found < 0) return undefined;
    const f = this.flags[found]!;
    return {
      path,
      size: this.sizes[found]!,
      ...(f & MD5_SET ? { md5: hexOf(this.md5, found * 16, 16) } : {}),
      ...(f & SHA_SET ? { sha256: hexOf(this.sha, found * 32, 32) } : {}),
    };
  }
}

/** Lines of a file (newlines + 1), read in 1 MiB chunks; 0 when it cannot be read. */
async function countLines(file: string): Promise<number> {
  let n = 1;
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer;
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    }
  } catch {
    return 0; // manifestRecords reports the error
  }
  return n;
}

function pathHash(path: string): Buffer {
  return createHash('md5').update(path).digest();
}

function copyHex(hex: string | undefined, bytes: number, into: Uint8Array, at: number): boolean {
  if (typeof hex !== 'string' || hex.length !== bytes * 2 || !/^[0-9a-f]+$/i.test(hex))
    return false;
  into.set(Buffer.from(hex, 'hex'), at);
  return true;
}

function hexOf(arr: Uint8Array, at: number, bytes: number): string {
  return Buffer.from(arr.buffer, arr.byteOffset + at, bytes).toString('hex');
}
