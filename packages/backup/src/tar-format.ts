/**
 * A minimal POSIX pax (ustar + extended headers) writer: regular files and directories only, which
 * is all a Dify storage tree holds. Extended headers carry what ustar cannot: non-ASCII or long
 * paths, sub-second mtimes, sizes of 8 GiB and more, large uid/gid. GNU tar, bsdtar and
 * tar-stream read the result.
 */

export interface TarEntry {
  /** Relative path, '/'-separated, no leading or trailing slash. */
  path: string;
  type: 'file' | 'dir';
  /** Content length for files; 0 for directories. */
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch. */
  mtimeNs: bigint;
}

const BLOCK = 512;
const MAX_OCTAL_11 = 0o77777777777; // 8 GiB - 1: largest size/mtime in a 12-byte field
const MAX_OCTAL_7 = 0o7777777;
const ZEROS = Buffer.alloc(BLOCK);

/** Two zero blocks end an archive. */
export const TAR_END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

/** Zero bytes that pad `size` bytes of content to the next 512-byte boundary (may be empty). */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? ZEROS.subarray(0, 0) : ZEROS.subarray(0, BLOCK - rest);
}

/** The header block(s) of one entry: an optional pax extended header, then the ustar header. */
export function encodeTarHeader(entry: TarEntry): Buffer {
  const name = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  const pax: [string, string][] = [];
  const asciiName = /^[\x20-\x7e]*$/.test(name);
  if (!asciiName || name.length > 100) pax.push(['path', name]);

  const seconds = entry.mtimeNs >= 0n ? entry.mtimeNs / 1_000_000_000n : 0n;
  const nanos = entry.mtimeNs >= 0n ? entry.mtimeNs % 1_000_000_000n : 0n;
  if (entry.mtimeNs < 0n) pax.push(['mtime', formatNegativeSeconds(entry.mtimeNs)]);
  else if (nanos !== 0n) pax.push(['mtime', `${seconds}.${nanos.toString().padStart(9, '0')}`]);
  if (entry.size > MAX_OCTAL_11) pax.push(['size', String(entry.size)]);
  if (entry.uid > MAX_OCTAL_7) pax.push(['uid', String(entry.uid)]);
  if (entry.gid > MAX_OCTAL_7) pax.push(['gid', String(entry.gid)]);

  const header = ustarHeader({
    name: asciiName && name.length <= 100 ? name : asciiFallback(name),
    mode: entry.mode & 0o7777,
    uid: entry.uid > MAX_OCTAL_7 ? 0 : entry.uid,
    gid: entry.gid > MAX_OCTAL_7 ? 0 : entry.gid,
    size: entry.type === 'dir' || entry.size > MAX_OCTAL_11 ? 0 : entry.size,
    mtime: Number(seconds > BigInt(MAX_OCTAL_11) ? BigInt(MAX_OCTAL_11) : seconds),
    typeflag: entry.type === 'dir' ? '5' : '0',
  });
  if (pax.length === 0) return header;

  const body = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(''), 'utf8');
  const paxHeader = ustarHeader({
    name: asciiFallback(`PaxHeaders/${name.replace(/\/$/, '').split('/').pop() ?? ''}`),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: Number(seconds > BigInt(MAX_OCTAL_11) ? BigInt(MAX_OCTAL_11) : seconds),
    typeflag: 'x',
  });
  return Buffer.concat([paxHeader, body, tarPadding(body.length), header]);
}

/** `"<len> key=value\n"` where len counts the whole record in bytes, itself included. */
function paxRecord(key: string, value: string): string {
  const rest = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return `${len} ${key}=${value}\n`;
}

function formatNegativeSeconds(ns: bigint): string {
  const abs = -ns;
  return `-${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** What old readers that ignore pax see as the name: printable ASCII, at most 100 bytes. */
function asciiFallback(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(0, 100);
}

interface UstarFields {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
}

function ustarHeader(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(f.name, 0, 100, 'ascii');
  writeOctal(b, f.mode, 100, 8);
  writeOctal(b, f.uid, 108, 8);
  writeOctal(b, f.gid, 116, 8);
  writeOctal(b, f.size, 124, 12);
  writeOctal(b, f.mtime, 136, 12);
  b.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  b.write(f.typeflag, 156, 1, 'ascii');
  b.write('ustar\0', 257, 6, 'ascii');
  b.write('00', 263, 2, 'ascii');
  writeOctal(b, 0, 329, 8); // devmajor
  writeOctal(b, 0, 337, 8); // devminor
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

/** Zero-padded octal digits followed by a NUL, filling `width` bytes. */
function writeOctal(b: Buffer, value: number, offset: number, width: number): void {
  b.write(
    `${Math.trunc(value)
      .toString(8)
      .padStart(width - 1, '0')}\0`,
    offset,
    width,
    'ascii',
  );
}
