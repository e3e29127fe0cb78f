import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { comparePaths } from '@dify-storage/common';
import { compareKeys } from '../src/keys.js';
import { journalRunLimits } from '../src/journal-runs.js';
import {
  ManifestJoin,
  ManifestOrderError,
  manifestJoinLimits,
  externallySortedManifest,
  loadManifest,
  manifestRecords,
  sortedManifestRecords,
  type ManifestRecord,
} from '../src/manifest.js';
import { tempDir } from './helpers.js';

const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

/** A small deterministic generator (xorshift), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

// Names where backup order and key order disagree: `a` a directory, `a-b`, `a.txt`, `a b` siblings.
const NAMES = ['a', 'a-b', 'a.txt', 'a b', 'a0', 'b', 'é', '中', 'x-1', 'x'];

function randomPath(r: () => number): string {
  const depth = 1 + Math.floor(r() * 3);
  return Array.from({ length: depth }, () => NAMES[Math.floor(r() * NAMES.length)]).join('/');
}

async function joinAll(
  manifest: ManifestRecord[],
  keys: string[],
): Promise<{ matched: string[]; unmatched: string[]; records: number }> {
  const unmatched: string[] = [];
  const join = new ManifestJoin(sortedManifestRecords(manifest), (r) => unmatched.push(r.path));
  const matched: string[] = [];
  for (const k of keys) {
    const rec = await join.match(k);
    if (rec) {
      expect(rec.path).toBe(k);
      matched.push(k);
    }
  }
  await join.finish();
  return { matched, unmatched, records: join.records };
}

describe('ManifestJoin (a manifest in backup order joined with a listing in key order, streamed)', () => {
  it('matches exactly the paths both sides hold, whatever the two orders disagree on', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const inManifest = new Set(Array.from({ length: 20 }, () => randomPath(r)));
      const inBucket = new Set(Array.from({ length: 20 }, () => randomPath(r)));
      for (const p of inManifest) if (r() < 0.5) inBucket.add(p);
      const manifest = [...inManifest].map((p, i) => ({ path: p, size: i }));
      const keys = [...inBucket].sort(compareKeys);
      const got = await joinAll(manifest, keys);
      const both = keys.filter((k) => inManifest.has(k));
      expect(got.matched).toEqual(both);
      expect(got.unmatched.sort()).toEqual([...inManifest].filter((p) => !inBucket.has(p)).sort());
      expect(got.records).toBe(inManifest.size);
    }
  });

  it('holds nothing back on a Dify-shaped listing (no pending records)', async () => {
    const paths: string[] = [];
    for (let t = 0; t < 20; t++)
      for (let f = 0; f < 50; f++)
        paths.push(`upload_files/${t}abcdef-12${t}-4${f % 3}/${f}1b2c-3d.pdf`);
    const manifest = paths
      .map((p) => ({ path: p, size: 1 }))
      .sort((a, b) => comparePaths(a.path, b.path));
    const join = new ManifestJoin(
      (async function* () {
        yield* manifest;
      })(),
    );
    for (const k of [...paths].sort(compareKeys)) {
      expect((await join.match(k))?.path).toBe(k);
      expect((join as unknown as { pending: unknown[] }).pending).toHaveLength(0);
    }
  });

  it('answers a key out of key order from what is pending only, and counts a path listed twice once', async () => {
    const manifest = [
      { path: 'a/x', size: 1 },
      { path: 'a-b', size: 2 },
      { path: 'a-b', size: 3 },
      { path: 'c', size: 4 },
    ];
    const unmatched: string[] = [];
    const join = new ManifestJoin(sortedManifestRecords(manifest), (r) => unmatched.push(r.path));
    expect((await join.match('a-b'))?.size).toBe(3);
    expect((await join.match('a/x'))?.size).toBe(1);
    expect(await join.match('a-b')).toBeUndefined();
    await join.finish();
    expect(unmatched).toEqual(['c']);
    expect(join.records).toBe(3);
  });

  it('refuses a manifest file out of backup order (the caller then falls back)', async () => {
    const dir = tempDir('mjoin');
    cleanup.push(dir);
    const file = path.join(dir, 'm.ndjson');
    fs.writeFileSync(
      file,
      ['b', 'a', 'c'].map((p) => JSON.stringify({ path: p, size: 1, type: 'file' })).join('\n'),
    );
    const join = new ManifestJoin(manifestRecords(file));
    await expect(join.match('c')).rejects.toBeInstanceOf(ManifestOrderError);
  });

  it("streams records from an async source (the rollback's union of manifests), collecting none first", async () => {
    let produced = 0;
    async function* union(paths: string[]): AsyncGenerator<ManifestRecord> {
      for (const p of paths) {
        produced++;
        yield { path: p, size: 1 };
      }
    }
    let received = 0;
    for await (const r of sortedManifestRecords(union(['a/x', 'a-b', 'b', 'c']))) {
      received++;
      expect(produced).toBe(received);
      expect(r.size).toBe(1);
    }
    expect(received).toBe(4);
    // Out of backup order: refused by the join, not sorted in memory.
    const join = new ManifestJoin(sortedManifestRecords(union(['b', 'a', 'c'])));
    await expect(join.match('c')).rejects.toBeInstanceOf(ManifestOrderError);
  });

  it('sorts a manifest file out of order outside memory: key order, the later record of a path, no file left', async () => {
    const dir = tempDir('msort');
    cleanup.push(dir);
    const lines: object[] = [{ path: 'upload_files', type: 'dir', size: 0 }];
    for (let i = 0; i < 3000; i++) {
      const p = `${i % 3 ? './' : ''}upload_files/t${(i * 7) % 50}/${i}.pdf`;
      lines.push({ path: p, size: i, sha256: String(i), type: 'file' });
    }
    lines.push({ path: 'upload_files/t7/1.pdf', size: 42, type: 'file' }, { path: 'a-b', size: 1 });
    const file = path.join(dir, 'm.ndjson');
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const sortDirs = () =>
      fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('dsm-manifest-sort-')).length;
    const before = sortDirs();
    const limits = { ...journalRunLimits };
    // 64 records a run, 8 runs merged at once: ≈ 47 runs, merged again on the way.
    Object.assign(journalRunLimits, { records: 64, runs: 8 });
    const got: ManifestRecord[] = [];
    try {
      for await (const r of externallySortedManifest(file)) got.push(r);
    } finally {
      Object.assign(journalRunLimits, limits);
    }
    const want = [...(await loadManifest(file)).values()].sort((a, b) =>
      compareKeys(a.path, b.path),
    );
    expect(got).toEqual(want);
    expect(got.find((r) => r.path === 'upload_files/t7/1.pdf')!.size).toBe(42);
    expect(sortDirs()).toBe(before);
  });

  it('gives up on the backup order when too many records wait (`upload_files.bak` beside `upload_files`), and the key-order join answers the same', async () => {
    const dir = tempDir('mpend');
    cleanup.push(dir);
    const paths = ['upload_files.bak/old.pdf'];
    for (let i = 0; i < 40; i++) paths.push(`upload_files/t${i % 4}/${i}.pdf`);
    const file = path.join(dir, 'm.ndjson');
    const inBackupOrder = [...paths].sort(comparePaths);
    fs.writeFileSync(
      file,
      inBackupOrder.map((p) => JSON.stringify({ path: p, size: 1 })).join('\n'),
    );
    const keys = [...paths].sort(compareKeys);
    const limits = { ...manifestJoinLimits };
    Object.assign(manifestJoinLimits, { pending: 8 });
    try {
      const join = await ManifestJoin.open(file);
      // The first key, `upload_files.bak/…`, passes all 40 records of `upload_files/`.
      await expect(join.match(keys[0]!)).rejects.toBeInstanceOf(ManifestOrderError);
      await join.close();
      // Records given in memory cannot be read again: their join waits on, unbounded.
      const inMemory = await ManifestJoin.open(inBackupOrder.map((p) => ({ path: p, size: 1 })));
      for (const k of keys) expect((await inMemory.match(k))?.path).toBe(k);
    } finally {
      Object.assign(manifestJoinLimits, limits);
    }
    const resorted = ManifestJoin.resorted(file);
    for (const k of keys) expect((await resorted.match(k))?.path).toBe(k);
    await resorted.close();
  });

  it('drops a waiting record no key names, with no onUnmatched too (in a child, with a deadline)', () => {
    // Backup order puts a/… before a-b/…; the keys list a-b/0 first, then a/1 and a/3: a/2 waits
    // and is never named. A join without onUnmatched looped forever on it.
    const code = `
      import { ManifestJoin } from './packages/sync/src/manifest.ts';
      const records = ['a/1', 'a/2', 'a/3', 'a-b/0'].map((p) => ({ path: p, size: 1 }));
      const join = await ManifestJoin.open(records);
      const got = [];
      for (const k of ['a-b/0', 'a/1', 'a/3']) got.push((await join.match(k))?.path ?? null);
      await join.finish();
      console.log(JSON.stringify(got));`;
    const child = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', code],
      { cwd: path.resolve(import.meta.dirname, '../../..'), encoding: 'utf8', timeout: 20_000 },
    );
    expect(child.signal).toBeNull();
    expect(JSON.parse(child.stdout)).toEqual(['a-b/0', 'a/1', 'a/3']);
  });

  it('opens a file out of backup order sorted first: a path listed twice far apart gets its later record', async () => {
    const dir = tempDir('mopen');
    cleanup.push(dir);
    const file = path.join(dir, 'm.ndjson');
    const lines = [
      { path: 'a/x', size: 1 },
      { path: 'b', size: 1 },
      { path: 'a-b', size: 1 },
      { path: 'a/x', size: 2 },
    ];
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    // Streamed as it comes, the join would answer a/x with its first record before it saw the
    // disorder; opened, the file is sorted first.
    const join = await ManifestJoin.open(file);
    for (const [k, size] of [
      ['a-b', 1],
      ['a/x', 2],
      ['b', 1],
    ] as const)
      expect((await join.match(k))?.size).toBe(size);
  });
});
