import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { comparePaths, sha256sumLine } from '@dify-storage/backup';
import {
  encodeTarHeader,
  tarPadding,
  TAR_END_OF_ARCHIVE,
  type TarEntry,
} from '../src/tar-format.js';

function tarOf(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeTarHeader(e));
    if (e.type === 'file') parts.push(Buffer.alloc(e.size, 0x61), tarPadding(e.size));
  }
  parts.push(TAR_END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

const file = (path: string, mtimeNs: bigint, size = 3): TarEntry => ({
  path,
  type: 'file',
  size,
  mode: 0o640,
  uid: 1000,
  gid: 1000,
  mtimeNs,
});

describe('pax tar writer', () => {
  // Names around the 100-byte ustar limit and around the pax record-length digit boundaries.
  const names = [
    ...Array.from({ length: 300 }, (_, i) => `n${String(i).padStart(3, '0')}-${'a'.repeat(i)}`),
    ...Array.from({ length: 40 }, (_, i) => `ü${String(i).padStart(2, '0')}${'é'.repeat(i * 3)}`),
    'new\nline',
    'back\\slash',
    '..png',
  ];
  const entries = names.map((name, i) =>
    file(name, 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000_123n, i % 600),
  );

  it('is read back by tar-stream with exact names, sizes and nanosecond mtimes', async () => {
    const extract = tarStream.extract();
    Readable.from([tarOf(entries)]).pipe(extract);
    const seen: { name: string; size: number; mtime: string | undefined; mode: number }[] = [];
    for await (const entry of extract) {
      const pax = entry.header.pax as Record<string, string> | null | undefined;
      seen.push({
        name: entry.header.name,
        size: entry.header.size,
        mtime: pax?.mtime,
        mode: entry.header.mode,
      });
      entry.resume();
    }
    expect(seen.map((s) => s.name)).toEqual(names);
    expect(seen.map((s) => s.size)).toEqual(entries.map((e) => e.size));
    expect(seen[1]!.mtime).toBe('1700000001.000000123');
    expect(seen.every((s) => s.mode === 0o640)).toBe(true);
  });

  it('is read back by GNU tar', () => {
    const r = spawnSync('tar', ['-tf', '-'], {
      input: tarOf(entries),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').slice(0, -1)).toEqual(
      names.map((n) => n.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')),
    );
  });

  it('writes whole-second mtimes without a pax header and directories with a slash', () => {
    const plain = encodeTarHeader(file('plain.txt', 1_700_000_000_000_000_000n));
    expect(plain).toHaveLength(512);
    const dir = encodeTarHeader({
      path: 'd',
      type: 'dir',
      size: 0,
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtimeNs: 0n,
    });
    expect(dir.subarray(0, 2).toString()).toBe('d/');
    expect(String.fromCharCode(dir[156]!)).toBe('5');
  });
});

describe('comparePaths (archive and manifest order)', () => {
  it('orders a depth-first walk: a directory is followed by its content before its siblings', () => {
    const walkOrder = ['a', 'a/b', 'a/b/c', 'a-c', 'a.b', 'ab'];
    expect([...walkOrder].reverse().sort(comparePaths)).toEqual(walkOrder);
    expect(comparePaths('a/b', 'a-c')).toBeLessThan(0);
    expect(comparePaths('x', 'x')).toBe(0);
  });
});

describe('sha256sumLine', () => {
  it('escapes names like GNU coreutils', () => {
    const h = 'ab'.repeat(32);
    expect(sha256sumLine(h, 'a b/ü.txt')).toBe(`${h}  a b/ü.txt\n`);
    expect(sha256sumLine(h, 'a\\b')).toBe(`\\${h}  a\\\\b\n`);
    expect(sha256sumLine(h, 'new\nline\r')).toBe(`\\${h}  new\\nline\\r\n`);
  });
});
