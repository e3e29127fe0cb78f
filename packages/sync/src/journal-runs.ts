import fs from 'node:fs';

/**
 * An external sort of keyed lines, the last line for a key winning: a killed run's journal
 * (state.ts), and a manifest file out of backup order (manifest.ts). Sorted in chunks, each
 * written to a run file, then k-way merged as the reader goes.
 *
 * `records`: how many records a chunk holds while it is sorted (≈ 350 B each for the journal);
 * `runs`: how many sorted runs are merged at once (one read block each), more are first
 * merged into one. Only tests change them, to spread a few thousand records over many runs.
 */
export const journalRunLimits = { records: 16_384, runs: 64 };

/** Bytes read from a run file at a time (one buffer per run while the overlay is read). */
const READ_BYTES = 64 * 1024;
/** Bytes written to a run file at a time (larger transient buffers fragment the malloc heap). */
const WRITE_BYTES = 64 * 1024;

/** A run's line of a record and back, the record's key and the order of keys. */
export interface RunFormat<T> {
  parse(line: string): T | undefined;
  line(rec: T): string;
  key(rec: T): string;
  compare(a: string, b: string): number;
}

/** One sorted run: its records in key order, one key once. */
interface Run<T> {
  /** The next record, undefined at the end. */
  next(): T | undefined;
  close(): void;
}

/** A run that fitted in memory (the whole input was one chunk): its lines, sorted. */
class MemoryRun<T> implements Run<T> {
  private i = 0;
  constructor(
    private readonly lines: string[],
    private readonly parse: RunFormat<T>['parse'],
  ) {}

  next(): T | undefined {
    while (this.i < this.lines.length) {
      const r = this.parse(this.lines[this.i++]!);
      if (r) return r;
    }
    return undefined;
  }

  close(): void {
    this.lines.length = 0;
  }
}

/** A run in a file (unlinked once created), read forward a block at a time. */
class FileRun<T> implements Run<T> {
  private pos = 0;
  private lines: string[] = [];
  private i = 0;
  private carry = Buffer.alloc(0);
  private eof = false;

  constructor(
    private readonly fd: number,
    private readonly parse: RunFormat<T>['parse'],
  ) {}

  next(): T | undefined {
    for (;;) {
      while (this.i < this.lines.length) {
        const line = this.lines[this.i++]!;
        const r = line ? this.parse(line) : undefined;
        if (r) return r;
      }
      if (this.eof) return undefined;
      this.fill();
    }
  }

  /** Reads the next block; its complete lines become `lines` (a newline is never inside a UTF-8 character). */
  private fill(): void {
    const buf = Buffer.allocUnsafe(this.carry.length + READ_BYTES);
    this.carry.copy(buf);
    const n = fs.readSync(this.fd, buf, this.carry.length, READ_BYTES, this.pos);
    this.pos += n;
    const end = this.carry.length + n;
    if (n === 0) this.eof = true;
    const cut = this.eof ? end : buf.lastIndexOf(0x0a, end - 1) + 1;
    this.lines = buf.toString('utf8', 0, cut).split('\n');
    this.i = 0;
    this.carry = Buffer.from(buf.subarray(cut, end));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * Records in key order, the last one added winning for a key: taken in chunks of
 * `journalRunLimits.records`, each sorted and written to a run file, then k-way merged.
 * Memory: one chunk while the input is read, one block per run after, whatever its length.
 */
export class RunSorter<T> {
  private chunk = new Map<string, string>();
  private readonly runs: Run<T>[] = [];
  private readonly limits = { ...journalRunLimits };

  /** `createRun`: a new, empty, unlinked file opened for reading and writing (its fd). */
  constructor(
    private readonly createRun: () => number,
    private readonly format: RunFormat<T>,
  ) {}

  /** A record's line and its key (a later line for the same key replaces it). */
  add(key: string, line: string): void {
    this.chunk.set(key, line);
    if (this.chunk.size >= this.limits.records) this.spill();
  }

  private sortedLines(): string[] {
    const keys = [...this.chunk.keys()].sort(this.format.compare);
    const lines = keys.map((k) => this.chunk.get(k)!);
    this.chunk = new Map();
    return lines;
  }

  private spill(): void {
    this.runs.push(this.writeRun(this.sortedLines()));
    if (this.runs.length < this.limits.runs) return;
    // Too many to merge at once: the runs so far become one, the earliest (rank 0).
    const merged = new RunMerge(this.runs.splice(0), this.format);
    try {
      this.runs.push(this.writeRun(merged.lines(this.format.line)));
    } finally {
      merged.close();
    }
  }

  /** A run file of these lines (sorted, one per key). */
  private writeRun(lines: Iterable<string>): FileRun<T> {
    const fd = this.createRun();
    try {
      let part: string[] = [];
      let bytes = 0;
      for (const line of lines) {
        part.push(line);
        bytes += line.length + 1;
        if (bytes < WRITE_BYTES) continue;
        fs.writeSync(fd, `${part.join('\n')}\n`);
        part = [];
        bytes = 0;
      }
      if (part.length > 0) fs.writeSync(fd, `${part.join('\n')}\n`);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    return new FileRun(fd, this.format.parse);
  }

  /** The merged records (undefined: there were none). The sorter is done with. */
  finish(): RunMerge<T> | undefined {
    if (this.chunk.size > 0) {
      if (this.runs.length === 0)
        this.runs.push(new MemoryRun(this.sortedLines(), this.format.parse));
      else this.spill();
    }
    return this.runs.length > 0 ? new RunMerge(this.runs, this.format) : undefined;
  }

  /** Closes the runs written so far (the input could not be read to its end). */
  abort(): void {
    for (const r of this.runs) r.close();
    this.runs.length = 0;
  }
}

/** A run's current record in the merge. */
interface Head<T> {
  rec: T;
  key: string;
  /** Input order of the run: of two records for one key, the higher rank is the later. */
  rank: number;
  run: Run<T>;
}

/**
 * Records merged from sorted runs, in key order, one per key (the last added). Answers lookups
 * in non-decreasing key order, or yields every record once.
 */
export class RunMerge<T> {
  private readonly heap: Head<T>[] = [];
  private current: T | undefined;
  private started = false;

  constructor(
    private readonly runs: Run<T>[],
    private readonly format: RunFormat<T>,
  ) {
    runs.forEach((run, rank) => this.push(run, rank));
  }

  /** Heap order: key, then the later run first. */
  private before(a: Head<T>, b: Head<T>): boolean {
    const c = this.format.compare(a.key, b.key);
    return c < 0 || (c === 0 && a.rank > b.rank);
  }

  private push(run: Run<T>, rank: number): void {
    const rec = run.next();
    if (!rec) return;
    const h = this.heap;
    let i = h.push({ rec, key: this.format.key(rec), rank, run }) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Head<T> {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const m = l + 1 < h.length && this.before(h[l + 1]!, h[l]!) ? l + 1 : l;
        if (m >= h.length || !this.before(h[m]!, h[i]!)) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /** The next record in key order (the latest for its key), undefined at the end. */
  next(): T | undefined {
    if (this.heap.length === 0) return undefined;
    const top = this.pop();
    this.push(top.run, top.rank);
    // Older records for the same key, in earlier runs: superseded.
    while (this.heap.length > 0 && this.heap[0]!.key === top.key) {
      const old = this.pop();
      this.push(old.run, old.rank);
    }
    return top.rec;
  }

  /** Every record as a line, in key order (a fresh merge). */
  *lines(line: (rec: T) => string): Generator<string> {
    for (let r = this.next(); r; r = this.next()) yield line(r);
  }

  /** The record for `key`, if there is one; keys must be asked in non-decreasing order. */
  seek(key: string): T | undefined {
    if (!this.started) {
      this.started = true;
      this.current = this.next();
    }
    const { key: keyOf, compare } = this.format;
    while (this.current && compare(keyOf(this.current), key) < 0) this.current = this.next();
    return this.current && keyOf(this.current) === key ? this.current : undefined;
  }

  close(): void {
    for (const r of this.runs) r.close();
    this.heap.length = 0;
  }
}
