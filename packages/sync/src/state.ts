import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createHash, randomBytes } from 'node:crypto';
import { DirHandle, UnsafePathError } from '@dify-storage/common';
import { errorText } from './errors.js';
import { RunSorter, type RunFormat, type RunMerge } from './journal-runs.js';
import { compareKeys } from './keys.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_APPEND, O_TRUNC, O_NOFOLLOW, O_NONBLOCK } =
  fs.constants;
const WRITE_NEW = O_WRONLY | O_CREAT | O_TRUNC;

/**
 * Opens a file of the state directory without following a symlink (the engine runs as root: a
 * planted `journal.ndjson -> /etc/passwd` must not be appended to, nor `files.next.ndjson`
 * truncate its target). A symlink or non-regular file there is refused: it was planted.
 * Returns -1 when `missingOk` and the file does not exist.
 */
function openStateFile(file: string, flags: number, missingOk = false, shown = file): number {
  let fd: number;
  try {
    fd = fs.openSync(file, flags | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && missingOk) return -1;
    if (code === 'ELOOP') throw unsafe(shown, 'is a symbolic link');
    // Only a file opened O_EXCL (a run of the journal's sort) under a name nobody can guess.
    if (code === 'EEXIST') throw unsafe(shown, 'already exists');
    throw error;
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw unsafe(shown, 'is not a regular file');
  }
  return fd;
}

function unsafe(shown: string, what: string): UnsafePathError {
  return new UnsafePathError(
    `Refusing to use the state file ${shown}: it ${what}; remove it (this tool did not write it).`,
  );
}

/** A state file as a read stream (undefined when it does not exist), never through a symlink. */
export function openStateReadStream(
  file: string,
  shown = file,
  highWaterMark?: number,
): fs.ReadStream | undefined {
  const fd = openStateFile(file, O_RDONLY, true, shown);
  return fd < 0
    ? undefined
    : fs.createReadStream('', { fd, ...(highWaterMark ? { highWaterMark } : {}) });
}

function readStateText(file: string): string {
  const fd = openStateFile(file, O_RDONLY);
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function writeStateText(file: string, text: string): void {
  const fd = openStateFile(file, WRITE_NEW);
  try {
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opens (creating it 0700) the state directory and holds it: its files are reached through the
 * opened directory, so swapping the directory for a symlink later changes nothing.
 */
async function openStateDir(dir: string): Promise<DirHandle> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  return heldStateDir(dir);
}

/**
 * Holds an existing state directory. One that another user owns, or that group or others can
 * write, is refused: they could plant links, or records that a reader (verify, the copy back)
 * would trust.
 */
async function heldStateDir(dir: string): Promise<DirHandle> {
  const handle = await DirHandle.openRoot(dir);
  const st = fs.fstatSync(handle.fd);
  const uid = process.geteuid?.() ?? st.uid;
  if (st.uid !== uid || (st.mode & 0o022) !== 0) {
    handle.release();
    const why =
      st.uid !== uid ? `it belongs to uid ${st.uid}, not ${uid}` : 'others can write to it';
    throw new UnsafePathError(
      `Refusing to use the state directory ${dir}: ${why} (mode ${(st.mode & 0o777).toString(8)}), so anyone could plant links in it; use a directory only this user can write (chmod 700).`,
    );
  }
  return handle;
}

/**
 * Why a state directory cannot be read safely (undefined: it can, or it does not exist), for a
 * caller that can do without it (the rollback's copy back) to check it before its first change.
 */
export async function stateDirProblem(dir: string): Promise<string | undefined> {
  if (!fs.existsSync(dir)) return undefined;
  try {
    (await heldStateDir(dir)).release();
    return undefined;
  } catch (error) {
    return errorText(error);
  }
}

/**
 * What a run knows about a file it uploaded (or verified): the local identity it was read with and
 * the hashes of those bytes. A later run that sees the same (size, mtime, inode) and the same ETag
 * in the listing skips the file without reading it, without PUT and without HEAD.
 */
export interface FileRecord {
  /** Object key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** mtime, ns since the epoch (decimal string). */
  mtimeNs: string;
  /** Inode number (decimal string). */
  ino: string;
  /** Hex md5 of the content. */
  md5: string;
  /** Hex sha256 of the content. */
  sha256: string;
  /** ETag the object got (hex md5, or md5-of-part-md5s-N). */
  etag: string;
}

/** A multipart upload in flight, persisted so a killed run can continue it. */
export interface MpuRecord {
  key: string;
  uploadId: string;
  size: number;
  mtimeNs: string;
  ino: string;
  partSize: number;
  md5: string;
  sha256: string;
  /** Hex md5 of every part, in order. */
  partMd5s: string[];
}

/** Whether a record (or multipart upload) was taken of this very file: same size, mtime and inode. */
export function recordOfFile(
  rec: Pick<FileRecord, 'size' | 'mtimeNs' | 'ino'>,
  st: Pick<fs.BigIntStats, 'size' | 'mtimeNs' | 'ino'>,
): boolean {
  return (
    rec.size === Number(st.size) &&
    rec.mtimeNs === st.mtimeNs.toString() &&
    rec.ino === st.ino.toString()
  );
}

/**
 * The records as the files list and the journal store them: one-letter names, because at a
 * million files the names are a third of the bytes (and of the parse). Translated only here, at
 * the read/write boundary; every other module sees FileRecord and MpuRecord.
 */
interface DiskFileRecord {
  k: string;
  s: number;
  m: string;
  i: string;
  md5: string;
  sha: string;
  e: string;
}

interface DiskMpuRecord {
  k: string;
  u: string;
  s: number;
  m: string;
  i: string;
  ps: number;
  md5: string;
  sha: string;
  pm: string[];
}

/** A files-list line (JSON, one-letter names) of a record; field order is the on-disk order. */
export function fileLine(r: FileRecord): string {
  return JSON.stringify({
    k: r.key,
    s: r.size,
    m: r.mtimeNs,
    i: r.ino,
    md5: r.md5,
    sha: r.sha256,
    e: r.etag,
  } satisfies DiskFileRecord);
}

/** A parsed files-list (or journal `done`) line as a record; undefined when it is not one. */
export function fromDiskFile(d: Partial<DiskFileRecord>): FileRecord | undefined {
  if (typeof d.k !== 'string' || typeof d.s !== 'number') return undefined;
  return {
    key: d.k,
    size: d.s,
    mtimeNs: String(d.m),
    ino: String(d.i),
    md5: String(d.md5),
    sha256: String(d.sha),
    etag: String(d.e),
  };
}

function parseFileLine(line: string): FileRecord | undefined {
  try {
    return fromDiskFile(JSON.parse(line) as Partial<DiskFileRecord>);
  } catch {
    return undefined; // a line torn by a kill
  }
}

/** The journal's records as sorted runs hold them (the files list's lines, in key order). */
const RECORD_RUNS: RunFormat<FileRecord> = {
  parse: parseFileLine,
  line: fileLine,
  key: (r) => r.key,
  compare: compareKeys,
};

function mpuLine(r: MpuRecord): string {
  return JSON.stringify({
    t: 'mpu',
    k: r.key,
    u: r.uploadId,
    s: r.size,
    m: r.mtimeNs,
    i: r.ino,
    ps: r.partSize,
    md5: r.md5,
    sha: r.sha256,
    pm: r.partMd5s,
  } satisfies DiskMpuRecord & { t: 'mpu' });
}

function fromDiskMpu(d: DiskMpuRecord): MpuRecord {
  return {
    key: d.k,
    uploadId: d.u,
    size: d.s,
    mtimeNs: d.m,
    ino: d.i,
    partSize: d.ps,
    md5: d.md5,
    sha256: d.sha,
    partMd5s: d.pm,
  };
}

/** Every how many lines of the files list the index keeps a key and its byte offset. */
const INDEX_EVERY = 256;

/**
 * Where the files list's blocks start: a sparse index (a few thousand keys at a million files) that
 * lets the freeze-window delta read the records of the few directories it lists, not the whole list.
 */
export interface FilesIndex {
  /** Byte size of the files list it was written with (a mismatch: the index is stale, unused). */
  size: number;
  /** [first key of the block, byte offset], every INDEX_EVERY lines. */
  blocks: [string, number][];
}

/** When the last complete copy started: the base of the freeze-window delta (see delta-prune.ts). */
export interface Watermark {
  /** ms since the epoch, taken before the walk started. */
  startedAtMs: number;
  /** The run's exclude globs: a delta with other globs cannot trust it. */
  exclude: string[];
}

/** How a run ends for its state. */
export interface CloseOptions {
  /** Set on a run that saw every file it had to and failed none: the next delta may prune from it. */
  watermark?: Watermark;
  /** A pruned delta: keeps the journal (it is the only record of what it copied), swaps the dirs. */
  pruned?: boolean;
}

/** A journal line as stored: a done upload, a multipart upload started, or one ended. */
type JournalLine =
  ({ t: 'done' } & DiskFileRecord) | ({ t: 'mpu' } & DiskMpuRecord) | { t: 'mpu-end'; k: string };

/**
 * State of one (endpoint, bucket, prefix) target in a caller-given directory:
 * - `<id>.files.ndjson`: file records sorted in key order (read as a stream, merge-joined with the walk);
 * - `<id>.journal.ndjson`: append-only log of the running (or killed) run: uploads done, multipart
 *   uploads started and ended.
 * A run writes `<id>.files.next.ndjson` in walk order and swaps it in when it ends; a killed run
 * leaves its journal, whose uploads the next run lays over the files list: sorted by key into
 * runs (`<id>.journal.run-*.ndjson`, unlinked once created) and merged as the lookups go, so its
 * memory does not grow with the journal (journal-runs.ts).
 */
export class SyncState {
  private readonly filesPath: string;
  private readonly nextPath: string;
  private readonly journalPath: string;
  /** `<id>.<suffix>` in the state directory (dirs list, watermark, index). */
  readonly pathOf: (suffix: string) => string;
  private nextOffset = 0;
  private nextLines = 0;
  private nextIndex: [string, number][] = [];
  private dirsFd = -1;
  private dirsBuf: string[] = [];
  private journalFd = -1;
  private nextFd = -1;
  private journalBuf: string[] = [];
  private journalBytes = 0;
  private nextBuf: string[] = [];
  private nextBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  /** Records of a killed run (its journal), in key order; undefined when it has none. */
  private overlay: RunMerge<FileRecord> | undefined;
  readonly mpus = new Map<string, MpuRecord>();
  private reader: RecordReader | undefined;
  /** Walk-order slots for the next files list; a slot is written when it and all before it are settled. */
  private slots: (FileRecord | null | undefined)[] = [];
  private slotBase = 0;
  private slotHead = 0;
  /** The last record journaled and its files-list line. */
  private lastDone: { rec: FileRecord; line: string } | undefined;

  /** `base`: the directory, or the held directory's /proc/self/fd path (`handle`). */
  private constructor(
    private readonly base: string,
    private readonly shownDir: string,
    private readonly id: string,
    private readonly handle?: DirHandle,
  ) {
    this.filesPath = path.join(base, `${id}.files.ndjson`);
    this.nextPath = path.join(base, `${id}.files.next.ndjson`);
    this.journalPath = path.join(base, `${id}.journal.ndjson`);
    this.pathOf = (suffix) => path.join(base, `${id}.${suffix}`);
  }

  /** The name of a state file as the operator knows it (for messages). */
  private shown(suffix: string): string {
    return path.join(this.shownDir, `${this.id}.${suffix}`);
  }

  static targetId(endpoint: string, bucket: string, prefix: string): string {
    const h = createHash('sha256')
      .update(`${endpoint}\n${bucket}\n${prefix}`)
      .digest('hex')
      .slice(0, 12);
    return `sync-${bucket.replace(/[^A-Za-z0-9.-]/g, '_')}-${h}`;
  }

  /**
   * Opens the state of one target. `indexed`: lookups jump through the files list's index
   * (a pruned delta asks for a few directories' records, in key order, not for all of them).
   */
  static async open(dir: string, id: string, indexed = false): Promise<SyncState> {
    const handle = await openStateDir(dir);
    const st = new SyncState(handle.path, dir, id, handle);
    try {
      st.removeLeftoverRuns();
      await st.loadJournal();
      const index = indexed ? await st.readIndex() : undefined;
      st.reader = index
        ? await IndexedRecordReader.open(st.filesPath, index)
        : await SortedRecordReader.open(st.filesPath, st.shown('files.ndjson'));
      const next = (suffix: string, flags: number) =>
        openStateFile(st.pathOf(suffix), flags, false, st.shown(suffix));
      st.dirsFd = next('dirs.next.ndjson', WRITE_NEW);
      st.journalFd = next('journal.ndjson', O_RDWR | O_CREAT | O_APPEND);
      st.endTornLine();
      st.nextFd = next('files.next.ndjson', WRITE_NEW);
    } catch (error) {
      st.overlay?.close();
      await st.reader?.close();
      for (const fd of [st.dirsFd, st.journalFd]) if (fd >= 0) fs.closeSync(fd);
      handle.release();
      throw error;
    }
    st.flushTimer = setInterval(() => st.flush(), 250);
    st.flushTimer.unref();
    return st;
  }

  /** Reads the journal: its uploads sorted into `overlay`, its open multipart uploads into `mpus`. */
  private async loadJournal(): Promise<void> {
    const input = openStateReadStream(this.journalPath, this.shown('journal.ndjson'));
    if (!input) return;
    const sorter = new RunSorter(() => this.createRun(), RECORD_RUNS);
    try {
      const rl = readline.createInterface({ input, crlfDelay: Infinity });
      for await (const line of rl) {
        if (!line) continue;
        let rec: JournalLine;
        try {
          rec = JSON.parse(line) as JournalLine;
        } catch {
          continue; // a line torn by a kill
        }
        if (rec.t === 'done') {
          if (typeof rec.k === 'string' && typeof rec.s === 'number') sorter.add(rec.k, line);
        } else if (rec.t === 'mpu') this.mpus.set(rec.k, fromDiskMpu(rec));
        else if (rec.t === 'mpu-end') this.mpus.delete(rec.k);
      }
      this.overlay = sorter.finish();
    } catch (error) {
      sorter.abort();
      input.destroy();
      throw error;
    } finally {
      if (this.privateRuns) fs.rmSync(this.privateRuns, { recursive: true, force: true });
    }
  }

  /** A 0700 directory of our own for the runs, when the state directory is read-only to us. */
  private privateRuns: string | undefined;

  /**
   * A new run file for the journal's sort: created O_EXCL (never through a symlink, never over a
   * file) under a random name, and unlinked at once, so that only a kill in between leaves one
   * (removed by the next open). A reader without write access to the state directory (verify,
   * the state export) sorts in a private directory instead.
   */
  private createRun(): number {
    const suffix = `journal.run-${randomBytes(8).toString('hex')}.ndjson`;
    const file = path.join(this.privateRuns ?? this.base, `${this.id}.${suffix}`);
    let fd: number;
    try {
      fd = openStateFile(file, O_RDWR | O_CREAT | O_EXCL, false, this.shown(suffix));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (this.privateRuns || !['EROFS', 'EACCES', 'EPERM'].includes(code ?? '')) throw error;
      this.privateRuns = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-journal-runs-'));
      return this.createRun();
    }
    try {
      fs.unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        fs.closeSync(fd);
        throw error;
      }
    }
    return fd;
  }

  /**
   * Removes the run files a kill left between creating and unlinking one (only names this code
   * makes). A symlink or other non-regular file under such a name was planted: refused, as for
   * every state file of the journal (the state directory is the operator's, 0700).
   */
  private removeLeftoverRuns(): void {
    const prefix = `${this.id}.journal.run-`;
    for (const name of fs.readdirSync(this.base)) {
      if (!name.startsWith(prefix) || !/^[0-9a-f]{16}\.ndjson$/.test(name.slice(prefix.length)))
        continue;
      const file = path.join(this.base, name);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!st) continue;
      const shown = path.join(this.shownDir, name);
      if (st.isSymbolicLink()) throw unsafe(shown, 'is a symbolic link');
      if (!st.isFile()) throw unsafe(shown, 'is not a regular file');
      fs.rmSync(file, { force: true }); // gone meanwhile: fine
    }
  }

  /** A kill can leave the journal's last line torn: ended here, so the next line appended is whole. */
  private endTornLine(): void {
    const size = fs.fstatSync(this.journalFd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    fs.readSync(this.journalFd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) fs.writeSync(this.journalFd, '\n');
  }

  /**
   * The records of a target as the next run would see them: the files list with the journal's
   * uploads over it (a pruned delta or a killed run leaves its uploads only in the journal).
   */
  static async readRecords(dir: string, id: string): Promise<MergedRecordReader> {
    if (!fs.existsSync(dir)) return new MergedRecordReader(SortedRecordReader.empty(), undefined);
    const handle = await heldStateDir(dir);
    const st = new SyncState(handle.path, dir, id);
    try {
      await st.loadJournal();
      try {
        const files = await SortedRecordReader.open(st.filesPath, st.shown('files.ndjson'));
        return new MergedRecordReader(files, st.overlay);
      } catch (error) {
        st.overlay?.close();
        throw error;
      }
    } finally {
      handle.release(); // the open files keep what they read
    }
  }

  /** The record for `key`, if any; keys must be asked in non-decreasing order. */
  async lookup(key: string): Promise<FileRecord | undefined> {
    const fromFile = await this.reader!.seek(key);
    return this.overlay?.seek(key) ?? fromFile;
  }

  /** Reserves the next walk-order slot of the new files list. */
  reserveSlot(): number {
    this.slots.push(undefined);
    return this.slotBase + this.slots.length - 1;
  }

  /** Settles a slot with a record (or null: nothing known, e.g. failed). */
  settleSlot(slot: number, rec: FileRecord | null): void {
    this.slots[slot - this.slotBase] = rec;
    while (this.slotHead < this.slots.length && this.slots[this.slotHead] !== undefined) {
      const r = this.slots[this.slotHead];
      if (r) this.pushNext(r === this.lastDone?.rec ? this.lastDone.line : fileLine(r), r.key);
      this.slotHead++;
    }
    if (this.slotHead > 4096 && this.slotHead * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.slotHead);
      this.slotBase += this.slotHead;
      this.slotHead = 0;
    }
  }

  private pushNext(line: string, key: string): void {
    if (this.nextLines++ % INDEX_EVERY === 0) this.nextIndex.push([key, this.nextOffset]);
    this.nextOffset += Buffer.byteLength(line) + 1;
    this.nextBuf.push(line);
    this.nextBytes += line.length + 1;
    // 64 KiB: a 1 MiB join is a 1 MiB string and a 1 MiB native buffer per write; such
    // transient 1 MiB buffers fragment the malloc heap over a 1M-file run (docs/performance.md).
    if (this.nextBytes > 1 << 16) this.flushNext();
  }

  private journal(s: string): void {
    this.journalBuf.push(s);
    this.journalBytes += s.length + 1;
    // Written at the end of this turn of the event loop: a kill loses at most the uploads that
    // finished in the same turn, and completions arriving together share one write.
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flushJournal();
      });
    }
  }

  recordDone(rec: FileRecord): void {
    const line = fileLine(rec);
    // Its slot is usually settled right after: the files list reuses the line.
    this.lastDone = { rec, line };
    this.journal(`{"t":"done",${line.slice(1)}`);
  }

  recordMpu(rec: MpuRecord): void {
    this.mpus.set(rec.key, rec);
    this.journal(mpuLine(rec));
    this.flushJournal(); // an UploadId lost to a kill is an orphan upload: write it now
  }

  endMpu(key: string): void {
    if (!this.mpus.delete(key)) return;
    this.journal(JSON.stringify({ t: 'mpu-end', k: key } satisfies JournalLine));
  }

  private flushJournal(): void {
    if (this.journalBuf.length === 0 || this.journalFd < 0) return;
    fs.writeSync(this.journalFd, `${this.journalBuf.join('\n')}\n`);
    this.journalBuf = [];
    this.journalBytes = 0;
  }

  private flushNext(): void {
    if (this.nextBuf.length === 0 || this.nextFd < 0) return;
    fs.writeSync(this.nextFd, `${this.nextBuf.join('\n')}\n`);
    this.nextBuf = [];
    this.nextBytes = 0;
  }

  /** One directory of the tree as the run saw it (see delta-prune.ts), written in walk order. */
  recordDir(line: string): void {
    this.dirsBuf.push(line);
    if (this.dirsBuf.length >= 1024) this.flushDirs();
  }

  private flushDirs(): void {
    if (this.dirsBuf.length === 0 || this.dirsFd < 0) return;
    fs.writeSync(this.dirsFd, `${this.dirsBuf.join('\n')}\n`);
    this.dirsBuf = [];
  }

  flush(): void {
    this.flushJournal();
    this.flushNext();
    this.flushDirs();
  }

  /** The last watermark written for a target, if the dirs list it goes with is there too. */
  static async readWatermark(dir: string, id: string): Promise<Watermark | undefined> {
    const st = new SyncState(dir, dir, id);
    try {
      const w = JSON.parse(readStateText(st.pathOf('watermark.json'))) as Watermark;
      await fsp.access(st.pathOf('dirs.ndjson'));
      return Number.isFinite(w.startedAtMs) && Array.isArray(w.exclude) ? w : undefined;
    } catch {
      return undefined;
    }
  }

  private async readIndex(): Promise<FilesIndex | undefined> {
    try {
      const idx = JSON.parse(readStateText(this.pathOf('files.idx.json'))) as FilesIndex;
      const size = (await fsp.lstat(this.filesPath)).size;
      return idx.size === size && Array.isArray(idx.blocks) ? idx : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Swaps in the dirs list and writes (or, without one, leaves removed) the watermark: called
   * last, after the files list and the journal are in place, so a kill before it leaves at most
   * an older watermark, which only makes the next delta list more.
   */
  private async closeDirs(options: CloseOptions, swap: boolean): Promise<void> {
    if (swap && options.watermark) {
      await fsp.rename(this.pathOf('dirs.next.ndjson'), this.pathOf('dirs.ndjson'));
      writeStateText(this.pathOf('watermark.json'), JSON.stringify(options.watermark));
    } else await fsp.rm(this.pathOf('dirs.next.ndjson'), { force: true });
  }

  /**
   * Ends the run. `complete`: the whole tree was walked, so the new files list replaces the old
   * one and the journal is no longer needed (multipart uploads still open are kept in it).
   */
  async close(complete: boolean, options: CloseOptions = {}): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.overlay?.close();
    this.overlay = undefined;
    await this.reader?.close();
    this.flush();
    fs.closeSync(this.dirsFd);
    this.dirsFd = -1;
    // The old watermark goes first: its dirs list is about to be replaced.
    await fsp.rm(this.pathOf('watermark.json'), { force: true });
    if (complete) {
      // Uploads of the killed run that this walk did not see again keep nothing; open MPUs stay.
      fs.fsyncSync(this.nextFd);
      fs.closeSync(this.nextFd);
      this.nextFd = -1;
      // The index first: one that does not fit the files list's size is ignored.
      writeStateText(
        this.pathOf('files.idx.json'),
        JSON.stringify({ size: this.nextOffset, blocks: this.nextIndex } satisfies FilesIndex),
      );
      await fsp.rename(this.nextPath, this.filesPath);
      fs.closeSync(this.journalFd);
      this.journalFd = -1;
      const open = [...this.mpus.values()].map(mpuLine);
      if (open.length > 0) writeStateText(this.journalPath, `${open.join('\n')}\n`);
      else await fsp.rm(this.journalPath, { force: true });
    } else {
      fs.fsyncSync(this.journalFd);
      fs.closeSync(this.journalFd);
      this.journalFd = -1;
      fs.closeSync(this.nextFd);
      this.nextFd = -1;
      await fsp.rm(this.nextPath, { force: true });
    }
    await this.closeDirs(options, complete || options.pruned === true);
    this.handle?.release();
  }
}

interface RecordReader {
  seek(key: string): Promise<FileRecord | undefined>;
  close(): Promise<void>;
}

/** Reads a sorted NDJSON file of records forward, answering lookups in increasing key order. */
export class SortedRecordReader implements RecordReader {
  private iter: AsyncIterator<string> | undefined;
  private current: FileRecord | undefined;
  private done = false;
  private rl: readline.Interface | undefined;
  private input: fs.ReadStream | undefined;

  /** A reader with no records (no state directory). */
  static empty(): SortedRecordReader {
    const r = new SortedRecordReader();
    r.done = true;
    return r;
  }

  /** Opens a files list (never through a symlink); `shown` names it in messages. */
  static async open(file: string, shown = file): Promise<SortedRecordReader> {
    const r = new SortedRecordReader();
    r.input = openStateReadStream(file, shown, 1 << 16);
    if (!r.input) {
      r.done = true;
      return r;
    }
    r.rl = readline.createInterface({ input: r.input, crlfDelay: Infinity });
    r.iter = r.rl[Symbol.asyncIterator]();
    return r;
  }

  private async advance(): Promise<void> {
    for (;;) {
      const n = await this.iter!.next();
      if (n.done) {
        this.done = true;
        this.current = undefined;
        return;
      }
      if (!n.value) continue;
      this.current = parseFileLine(n.value);
      if (this.current) return;
    }
  }

  async seek(key: string): Promise<FileRecord | undefined> {
    if (this.done) return undefined;
    if (this.current === undefined) await this.advance();
    while (this.current && compareKeys(this.current.key, key) < 0) await this.advance();
    if (this.current && this.current.key === key) return this.current;
    return undefined;
  }

  /** Every remaining record (for emitters); use on a fresh reader. */
  async *all(): AsyncGenerator<FileRecord> {
    if (this.done) return;
    for (;;) {
      await this.advance();
      if (!this.current) return;
      yield this.current;
    }
  }

  async close(): Promise<void> {
    this.rl?.close();
    this.input?.destroy();
  }
}

/** A sorted files list with a journal's newer records (by key) laid over it. */
export class MergedRecordReader implements RecordReader {
  constructor(
    private readonly base: SortedRecordReader,
    private readonly over: RunMerge<FileRecord> | undefined,
  ) {}

  async seek(key: string): Promise<FileRecord | undefined> {
    const fromFile = await this.base.seek(key);
    return this.over?.seek(key) ?? fromFile;
  }

  /** Every record in key order (use on a fresh reader, instead of `seek`). */
  async *all(): AsyncGenerator<FileRecord> {
    const next = (): FileRecord | undefined => this.over?.next();
    let o = next();
    for await (const r of this.base.all()) {
      for (; o && compareKeys(o.key, r.key) < 0; o = next()) yield o;
      if (o?.key === r.key) {
        yield o;
        o = next();
      } else yield r;
    }
    for (; o; o = next()) yield o;
  }

  close(): Promise<void> {
    this.over?.close();
    return this.base.close();
  }
}

/**
 * Answers lookups from the blocks of the files list that hold the keys asked for: reads and
 * parses one block (INDEX_EVERY records) at a time, so a few directories' records cost a few
 * blocks, whatever the size of the tree.
 */
export class IndexedRecordReader implements RecordReader {
  private block = -1;
  private records = new Map<string, FileRecord>();

  private constructor(
    private readonly fd: number,
    private readonly index: FilesIndex,
  ) {}

  static async open(file: string, index: FilesIndex): Promise<IndexedRecordReader> {
    return new IndexedRecordReader(openStateFile(file, O_RDONLY), index);
  }

  async seek(key: string): Promise<FileRecord | undefined> {
    const b = this.blockOf(key);
    if (b < 0) return undefined;
    if (b !== this.block) this.load(b);
    return this.records.get(key);
  }

  /** The last block whose first key is ≤ key (-1: before the first). */
  private blockOf(key: string): number {
    const blocks = this.index.blocks;
    let lo = 0;
    let hi = blocks.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(blocks[mid]![0], key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private load(b: number): void {
    const start = this.index.blocks[b]![1];
    const end = this.index.blocks[b + 1]?.[1] ?? this.index.size;
    const buf = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(this.fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    this.records = new Map();
    for (const line of buf.toString('utf8', 0, got).split('\n')) {
      const r = line ? parseFileLine(line) : undefined;
      if (r) this.records.set(r.key, r);
    }
    this.block = b;
  }

  async close(): Promise<void> {
    fs.closeSync(this.fd);
  }
}
