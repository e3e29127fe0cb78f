import { createHash, type Hash } from 'node:crypto';

/** What the header(s) of a tar entry say. */
export interface EntryHeader {
  /** The name as stored, without a trailing slash (pax path when present). */
  path: string;
  /** tar-stream's names: 'file', 'directory', 'symlink', 'link', … */
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
}

/** One entry of a tar stream, its content already hashed. */
export interface ScannedEntry extends EntryHeader {
  /** sha256 (hex) of the content of a regular file; null for other types. */
  sha256: string | null;
}

/** The tar stream does not parse (bad header checksum, truncated, unsupported size). */
export class TarDamagedError extends Error {}

const BLOCK = 512;
const TYPES: Record<string, string> = {
  '0': 'file',
  '\0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
};

interface Pending {
  entry: EntryHeader;
  hash: Hash | null;
  /** Content bytes still to come. */
  left: number;
  /** Padding bytes after the content. */
  pad: number;
  /** Collects the content of an extended header ('x', 'g', 'L') instead of hashing it. */
  meta: { kind: string; parts: Buffer[] } | null;
}

/**
 * A streaming parser of pax/ustar tar: `push` raw tar bytes in any chunking, get back the
 * entries completed by them, each with the sha256 of its content. It reads what our writer
 * emits and what standard tools write for regular files and directories: ustar names with a
 * prefix, pax records (path, size, mtime, uid, gid), GNU long names and base-256 numbers.
 * Content is hashed straight from the pushed chunks: no per-entry streams or copies.
 */
export class TarScanner {
  /** Bytes of a header block split across chunks. */
  private readonly block = Buffer.alloc(BLOCK);
  private blockFill = 0;
  private pending: Pending | null = null;
  private overrides: Record<string, string> = {};
  private offset = 0;
  private ended = false;

  push(chunk: Buffer): ScannedEntry[] {
    const done: ScannedEntry[] = [];
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.pending) {
        at = this.content(chunk, at, done);
        continue;
      }
      let header: Buffer;
      if (this.blockFill === 0 && chunk.length - at >= BLOCK) {
        header = chunk.subarray(at, at + BLOCK);
        at += BLOCK;
      } else {
        const n = Math.min(BLOCK - this.blockFill, chunk.length - at);
        chunk.copy(this.block, this.blockFill, at, at + n);
        this.blockFill += n;
        at += n;
        if (this.blockFill < BLOCK) break;
        this.blockFill = 0;
        header = this.block;
      }
      this.header(header, done);
      this.offset += BLOCK;
    }
    return done;
  }

  /** Throws unless the stream ended with the end-of-archive block. */
  end(): void {
    if (!this.ended) {
      throw new TarDamagedError(
        `the tar stream ends at byte ${this.offset + this.blockFill} without its end-of-archive block`,
      );
    }
  }

  private content(chunk: Buffer, at: number, done: ScannedEntry[]): number {
    const p = this.pending!;
    const n = Math.min(p.left + p.pad, chunk.length - at);
    const data = Math.min(n, p.left);
    if (data > 0) {
      const piece = chunk.subarray(at, at + data);
      if (p.meta) p.meta.parts.push(Buffer.from(piece));
      else p.hash?.update(piece);
      p.left -= data;
    }
    p.pad -= n - data;
    this.offset += n;
    if (p.left === 0 && p.pad === 0) this.complete(p, done);
    return at + n;
  }

  private complete(p: Pending, done: ScannedEntry[]): void {
    this.pending = null;
    if (p.meta) {
      const body = Buffer.concat(p.meta.parts);
      if (p.meta.kind === 'x') this.overrides = { ...this.overrides, ...parsePax(body) };
      else if (p.meta.kind === 'L') this.overrides.path = cString(body);
      return; // 'g' (global) records: nothing our readers apply
    }
    done.push({ ...p.entry, sha256: p.hash ? p.hash.digest('hex') : null });
  }

  private header(h: Buffer, done: ScannedEntry[]): void {
    if (h.every((b) => b === 0)) {
      this.ended = true; // what follows (a second zero block, record padding) is not read
      return;
    }
    if (!checksumMatches(h)) {
      throw new TarDamagedError(`the tar header at byte ${this.offset} has a wrong checksum`);
    }
    const flag = String.fromCharCode(h[156]!);
    const isMeta = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    const o = this.overrides;
    const size = o.size !== undefined && !isMeta ? Number(o.size) : readNumber(h, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new TarDamagedError(`the tar header at byte ${this.offset} has an invalid size`);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (isMeta) {
      this.pending = { entry: null!, hash: null, left: size, pad, meta: { kind: flag, parts: [] } };
      if (size === 0) this.complete(this.pending, done);
      return;
    }
    this.overrides = {};
    const type = TYPES[flag] ?? `unknown-${h[156]}`;
    const name = o.path ?? ustarName(h);
    const entry = {
      path: name.replace(/\/+$/, ''),
      type,
      size,
      mode: readNumber(h, 100, 8) & 0o7777,
      uid: o.uid !== undefined ? Number(o.uid) : readNumber(h, 108, 8),
      gid: o.gid !== undefined ? Number(o.gid) : readNumber(h, 116, 8),
      mtimeNs:
        o.mtime !== undefined
          ? parsePaxTimeNs(o.mtime)
          : BigInt(readNumber(h, 136, 12)) * 1_000_000_000n,
    };
    const hash = type === 'file' || type === 'contiguous-file' ? createHash('sha256') : null;
    this.pending = { entry, hash, left: size, pad, meta: null };
    if (size === 0) this.complete(this.pending, done);
  }
}

/** Seconds (with up to 9 decimals) as in a pax `mtime` record, in nanoseconds. */
export function parsePaxTimeNs(value: string): bigint {
  if (!/^-?\d+(\.\d+)?$/.test(value)) throw new TarDamagedError(`invalid pax mtime ${value}`);
  const negative = value.startsWith('-');
  const [sec, frac = ''] = value.replace(/^-/, '').split('.');
  const ns = BigInt(sec!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
  return negative ? -ns : ns;
}

function ustarName(h: Buffer): string {
  const name = cString(h.subarray(0, 100));
  const prefix =
    h.subarray(257, 263).toString('latin1') === 'ustar\0' ? cString(h.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

/** An octal field (NUL/space terminated), or GNU base-256 when the high bit is set. */
function readNumber(h: Buffer, at: number, width: number): number {
  if (h[at]! & 0x80) {
    let value = h[at]! & 0x7f;
    for (let i = 1; i < width; i++) value = value * 256 + h[at + i]!;
    return value;
  }
  const text = h
    .subarray(at, at + width)
    .toString('latin1')
    .replace(/[\0 ].*$/s, '')
    .trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumMatches(h: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const stored = readNumber(h, 148, 8);
  return stored === unsigned || stored === signed;
}

/** `"<len> key=value\n"` records; len counts the record's bytes. */
function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const len = Number(body.subarray(at, space).toString('latin1'));
    if (space < 0 || !Number.isInteger(len) || len <= 0 || at + len > body.length) {
      if (body.subarray(at).every((b) => b === 0)) break;
      throw new TarDamagedError('a pax extended header is malformed');
    }
    const record = body.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}
