import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import {
  encodeTarHeader,
  tarPadding,
  TAR_END_OF_ARCHIVE,
  type TarEntry,
} from '../src/tar-format.js';
import { TarDamagedError, TarScanner, type ScannedEntry } from '../src/tar-scan.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Our writer's tar of `entries`, file contents from `body`. */
function ourTar(entries: TarEntry[], body: (e: TarEntry) => Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(encodeTarHeader(e));
    if (e.type === 'file') parts.push(body(e), tarPadding(e.size));
  }
  parts.push(TAR_END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

function scan(tar: Buffer, chunk: number): ScannedEntry[] {
  const s = new TarScanner();
  const out: ScannedEntry[] = [];
  for (let at = 0; at < tar.length; at += chunk) out.push(...s.push(tar.subarray(at, at + chunk)));
  s.end();
  return out;
}

/** What tar-stream (the restore path's parser) reads from the same bytes. */
async function viaTarStream(tar: Buffer): Promise<ScannedEntry[]> {
  const extract = tarStream.extract();
  Readable.from([tar]).pipe(extract);
  const out: ScannedEntry[] = [];
  for await (const entry of extract) {
    const h = entry.header;
    const hash = createHash('sha256');
    for await (const c of entry) hash.update(c as Buffer);
    const pax = (h.pax ?? {}) as Record<string, string>;
    const [s, f = ''] = (pax.mtime ?? '').split('.');
    out.push({
      path: h.name.replace(/\/+$/, ''),
      type: h.type ?? 'file',
      size: h.size ?? 0,
      mode: (h.mode ?? 0) & 0o7777,
      // tar-stream applies pax path and size only; uid/gid from pax as GNU tar does.
      uid: pax.uid ? Number(pax.uid) : (h.uid ?? 0),
      gid: pax.gid ? Number(pax.gid) : (h.gid ?? 0),
      mtimeNs: pax.mtime
        ? BigInt(s!) * 1_000_000_000n + BigInt(f.padEnd(9, '0'))
        : BigInt(h.mtime!.getTime()) * 1_000_000n,
      sha256: h.type === 'file' ? hash.digest('hex') : null,
    });
  }
  return out;
}

describe('TarScanner', () => {
  const names = [
    ...Array.from({ length: 120 }, (_, i) => `n${String(i).padStart(3, '0')}-${'a'.repeat(i)}`),
    ...Array.from({ length: 20 }, (_, i) => `ü${i}${'é'.repeat(i * 5)}/x`),
    'new\nline',
    'back\\slash',
  ];
  const entries: TarEntry[] = names.flatMap((name, i) => [
    { path: `d${i}`, type: 'dir', size: 0, mode: 0o750, uid: 0, gid: 0, mtimeNs: 5n * 10n ** 17n },
    {
      path: name,
      type: 'file',
      size: (i * 397) % 2000,
      mode: 0o640,
      uid: i > 100 ? 3_000_000 : 1000, // over 7 octal digits: a pax uid
      gid: 1000,
      mtimeNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000_123n,
    },
  ]);
  const tar = ourTar(entries, (e) => randomBytes(e.size));

  it('reads our writer exactly as tar-stream does, however the bytes are chunked', async () => {
    const expected = await viaTarStream(tar);
    expect(expected).toHaveLength(entries.length);
    for (const chunk of [1, 7, 511, 512, 513, 4096, tar.length])
      expect(scan(tar, chunk)).toEqual(expected);
  });

  it('reads what GNU tar writes (ustar prefix, GNU long names, whole-second mtimes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsm-scan-'));
    try {
      const deep = join(dir, 'src', 'p'.repeat(90), 'q'.repeat(90));
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'r'.repeat(120)), randomBytes(3000));
      writeFileSync(join(dir, 'src', 'small.txt'), 'hello');
      utimesSync(join(dir, 'src', 'small.txt'), 1_600_000_000, 1_600_000_000);
      const ustarOnly = `src/${'p'.repeat(90)}/short.txt`; // 105 bytes: ustar prefix + name
      writeFileSync(join(dir, ustarOnly), 'split name');
      for (const [format, what] of [
        ['gnu', 'src'],
        ['posix', 'src'],
        ['ustar', ustarOnly],
      ] as const) {
        const r = spawnSync('tar', [`--format=${format}`, '-cf', '-', '-C', dir, what]);
        expect(r.status).toBe(0);
        const entries = scan(r.stdout, 1000);
        expect(entries).toEqual(await viaTarStream(r.stdout));
        if (format === 'ustar') expect(entries.map((e) => e.path)).toEqual([ustarOnly]);
      }
      const small = scan(spawnSync('tar', ['-cf', '-', '-C', dir, 'src']).stdout, 512).find(
        (e) => e.path === 'src/small.txt',
      );
      expect(small).toMatchObject({
        sha256: sha(Buffer.from('hello')),
        mtimeNs: 1_600_000_000n * 10n ** 9n,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a damaged header and a stream cut short', () => {
    const flipped = Buffer.from(tar);
    flipped[600] = flipped[600]! ^ 0x01; // inside the first file's header (after the dir's)
    expect(() => scan(flipped, 4096)).toThrow(TarDamagedError);
    expect(() => scan(flipped, 4096)).toThrow(/wrong checksum/);
    expect(() => scan(tar.subarray(0, tar.length - 1024 - 512), 4096)).toThrow(
      /without its end-of-archive block/,
    );
  });
});
