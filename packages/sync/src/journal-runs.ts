import fs from 'node:fs';
import { compareKeys } from './keys.js';
import type { FileRecord } from './state.js';

/**
 * `records`: how many `done` records a chunk of the journal holds while it is sorted (≈ 350 B
 * each); `runs`: how many sorted runs are merged at once (one read block each), more are first
 * merged into one. Only tests change them, to spread a few thousand records over many runs.
 */
export const journalRunLimits = { records: 16_384, runs: 64 };

/** Bytes read from a run file at a time (one buffer per run while the overlay is read). */
const READ_BYTES = 64 * 1024;
/** Bytes written to a run file at a time (larger transient buffers fragment the malloc heap). */
const WRITE_BYTES = 64 * 1024;

/** A run's line of a record, and back. */
export interface LineFormat {
  parse(line: string): FileRecord | undefined;
  line(rec: FileRecord): string;
}
type ParseLine = LineFormat['parse'];

/** One sorted run: its records in key order, one key once. */
interface Run {
  /** The next record, undefined at the end. */
  next(): FileRecord | undefined;
  close(): void;
}

/** A run that fitted in memory (the whole journal was one chunk): its lines, sorted. */
class MemoryRun implements Run {
  private i = 0;
  constructor(
    private readonly lines: string[],
    private readonly parse: ParseLine,
  ) {}

  next(): FileRecord | undefined {
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
class FileRun implements Run {
  private pos = 0;
  private lines: string[] = [];
  private i = 0;
  private carry = Buffer.alloc(0);
  private eof = false;

  constructor(
    private readonly fd: number,
    private readonly parse: ParseLine,
  ) {}

  next(): FileRecord | undefined {
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
 * The `done` records of a journal in key order, the last one written winning for a key: read in
 * chunks of `journalRunLimits.records`, each sorted and written to a run file, then k-way merged.
 * Memory: one chunk while the journal is read, one block per run after, whatever its length.
 */
export class JournalSorter {
  private chunk = new Map<string, string>();
  private readonly runs: Run[] = [];
  private readonly limits = { ...journalRunLimits };

  /** `createRun`: a new, empty, unlinked state file opened for reading and writing (its fd). */
  constructor(
    private readonly createRun: () => number,
    private readonly format: LineFormat,
  ) {}

  /** A `done` line of the journal and its key (a later line for the same key replaces it). */
  add(key: string, line: string): void {
    this.chunk.set(key, line);
    if (this.chunk.size >= this.limits.records) this.spill();
  }

  private sortedLines(): string[] {
    const keys = [...this.chunk.keys()].sort(compareKeys);
    const lines = keys.map((k) => this.chunk.get(k)!);
    this.chunk = new Map();
    return lines;
  }

  private spill(): void {
    this.runs.push(this.writeRun(this.sortedLines()));
    if (this.runs.length < this.limits.runs) return;
    // Too many to merge at once: the runs so far become one, the earliest (rank 0).
    const merged = new JournalOverlay(this.runs.splice(0));
    try {
      this.runs.push(this.writeRun(merged.lines(this.format.line)));
    } finally {
      merged.close();
    }
  }

  /** A run file of these lines (sorted, one per key). */
  private writeRun(lines: Iterable<string>): FileRun {
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

  /** The merged records (undefined: the journal had none). The sorter is done with. */
  finish(): JournalOverlay | undefined {
    if (this.chunk.size > 0) {
      if (this.runs.length === 0)
        this.runs.push(new MemoryRun(this.sortedLines(), this.format.parse));
      else this.spill();
    }
    return this.runs.length > 0 ? new JournalOverlay(this.runs) : undefined;
  }

  /** Closes the runs written so far (the journal could not be read to its end). */
  abort(): void {
    for (const r of this.runs) r.close();
    this.runs.length = 0;
  }
}

/** A run's current record in the merge. */
interface Head {
  rec: FileRecord;
  /** Journal order of the run: of two records for one key, the higher rank is the later. */
  rank: number;
  run: Run;
}

/** Heap order: key, then the later run first. */
function before(a: Head, b: Head): boolean {
  const c = compareKeys(a.rec.key, b.rec.key);
  return c < 0 || (c === 0 && a.rank > b.rank);
}

/**
 * The journal's `done` records merged from its sorted runs, in key order, one per key (the last
 * written). Answers lookups in non-decreasing key order, or yields every record once.
 */
export class JournalOverlay {
  private readonly heap: Head[] = [];
  private current: FileRecord | undefined;
  private started = false;

  constructor(private readonly runs: Run[]) {
    runs.forEach((run, rank) => this.push(run, rank));
  }

  private push(run: Run, rank: number): void {
    const rec = run.next();
    if (!rec) return;
    const h = this.heap;
    let i = h.push({ rec, rank, run }) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Head {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const m = l + 1 < h.length && before(h[l + 1]!, h[l]!) ? l + 1 : l;
        if (m >= h.length || !before(h[m]!, h[i]!)) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /** The next record in key order (the latest for its key), undefined at the end. */
  next(): FileRecord | undefined {
    if (this.heap.length === 0) return undefined;
    const top = this.pop();
    this.push(top.run, top.rank);
    // Older records for the same key, in earlier runs: superseded.
    while (this.heap.length > 0 && this.heap[0]!.rec.key === top.rec.key) {
      const old = this.pop();
      this.push(old.run, old.rank);
    }
    return top.rec;
  }

  /** Every record as a line, in key order (a fresh overlay). */
  *lines(line: (rec: FileRecord) => string): Generator<string> {
    for (let r = this.next(); r; r = this.next()) yield line(r);
  }

  /** The record for `key`, if the journal has one; keys must be asked in non-decreasing order. */
  seek(key: string): FileRecord | undefined {
    if (!this.started) {
      this.started = true;
      this.current = this.next();
    }
    while (this.current && compareKeys(this.current.key, key) < 0) this.current = this.next();
    return this.current?.key === key ? this.current : undefined;
  }

  close(): void {
    for (const r of this.runs) r.close();
    this.heap.length = 0;
  }
}
