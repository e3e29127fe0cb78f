import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { raceSymlinkSwap, swapForSymlink } from '../../../action-tests/src/symlink-swap.js';
import type { S3Target } from '@dify-storage/s3';
import { S3Transport, syncFromBucket } from '../src/index.js';
import { newBucket, tempDir, writeFile } from './helpers.js';

// The copy back of a rollback writes, as root, into a tree a Dify pod can write to: a directory
// it has already checked or written into can be swapped for a symlink before the next object of
// the same directory. The run must neither write nor read through it (issue: fdsafe).
const T1 = 'upload_files/t1';
const A = Buffer.from('tenant one, a');
const B = Buffer.from('tenant one, b: restored from the bucket');
const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const cleanup: string[] = [];
let target: S3Target;

beforeAll(async () => {
  target = await newBucket('rev-swap');
  const t = new S3Transport(target);
  try {
    for (const [k, b] of [
      [`${T1}/a.txt`, A],
      [`${T1}/b.txt`, B],
    ] as const)
      await t.putObject(k, b, md5(b), { sha256: sha(b) });
  } finally {
    t.close();
  }
}, 60_000);

afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

function dirs(): { root: string; outside: string } {
  const root = tempDir('rev-swap-root');
  const outside = tempDir('rev-swap-outside');
  cleanup.push(root, outside);
  fs.writeFileSync(path.join(outside, 'keep.txt'), 'outside the root');
  return { root, outside };
}

describe('syncFromBucket and a directory swapped for a symlink mid-run', () => {
  it('does not write into the link target after writing into the directory: refused', async () => {
    const { root, outside } = dirs();
    // One download at a time, in key order: a.txt is renamed into upload_files/t1, then t1 is
    // swapped before b.txt, whose directory the run has already created and written into.
    const r = await syncFromBucket({
      root,
      target,
      concurrency: 1,
      throwOnFailure: false,
      onCopied: (rel) => (rel === `${T1}/a.txt` ? swapForSymlink(root, T1, outside) : undefined),
    });
    expect(fs.readdirSync(outside)).toEqual(['keep.txt']);
    expect(r.counts).toMatchObject({ copied: 1, refused: 1, failed: 0 });
    expect(r.refused).toEqual([
      { path: `${T1}/b.txt`, reason: `path passes through a symlink (${T1})` },
    ]);
    expect(fs.readFileSync(path.join(root, `${T1}.moved/a.txt`))).toEqual(A);
    // The tmp file is created O_EXCL|O_NOFOLLOW and its mtime set by futimes on the open fd: a
    // tmp name swapped for a symlink is refused at the open, and no utimes follows a path.
  }, 30_000);

  it('does not read a file through a swapped parent to decide it is already on disk', async () => {
    const { root, outside } = dirs();
    writeFile(root, `${T1}/a.txt`, A);
    // b was rewritten since the backup (same size): it must be copied back, unless the file
    // on disk already has its bytes. What the swapped link leads to has them.
    fs.writeFileSync(path.join(outside, 'b.txt'), B);
    const manifest = [
      { path: `${T1}/a.txt`, size: A.length, sha256: sha(A) },
      { path: `${T1}/b.txt`, size: B.length, sha256: sha(Buffer.alloc(B.length)) },
    ];
    // keyToPath is called once per key in listing order, just before that key is checked
    // against the disk: the swap comes after a.txt's check has opened upload_files/t1.
    const r = await syncFromBucket({
      root,
      target,
      manifest,
      concurrency: 1,
      throwOnFailure: false,
      keyToPath: (key) => {
        if (key === `${T1}/b.txt`) swapForSymlink(root, T1, outside);
        return key;
      },
    });
    expect(r.counts).toMatchObject({ files: 2, skipped: 1, copied: 0, refused: 1, failed: 0 });
    expect(r.refused).toEqual([
      { path: `${T1}/b.txt`, reason: `path passes through a symlink (${T1})` },
    ]);
    expect(fs.readdirSync(outside).sort()).toEqual(['b.txt', 'keep.txt']);
  }, 30_000);
});

describe('syncFromBucket through held directories', () => {
  const count = 150; // more directories than are held open at once (128)
  const body = (i: number): Buffer => Buffer.from(`file ${i} `.repeat(1 + (i % 7)));
  const rel = (i: number): string => `upload_files/t${i}/f.txt`;
  let many: S3Target;

  beforeAll(async () => {
    many = await newBucket('rev-many');
    const t = new S3Transport(many);
    try {
      for (let i = 0; i < count; i++) await t.putObject(rel(i), body(i), md5(body(i)), {});
    } finally {
      t.close();
    }
  }, 60_000);

  /** Open fds of this process on `dir` or below (sockets of other suites come and go). */
  const openFds = (dir: string): number =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
        return target === dir || target.startsWith(`${dir}/`);
      } catch {
        return false; // closed meanwhile (readdir's own fd)
      }
    }).length;

  it('writes into and checks more directories than it holds, and closes them all', async () => {
    const root = dirs().root;
    const r = await syncFromBucket({ root, target: many });
    expect(r.counts).toMatchObject({ copied: count, failed: 0, refused: 0 });
    for (let i = 0; i < count; i++)
      expect(fs.readFileSync(path.join(root, rel(i)))).toEqual(body(i));
    // Every object is now on disk: decided by reading it through its held directory, no HEAD.
    const manifest = [...Array(count).keys()].map((i) => ({
      path: rel(i),
      size: body(i).length,
      sha256: sha(body(i)),
    }));
    const again = await syncFromBucket({ root, target: many, manifest });
    expect(again.counts).toMatchObject({ skipped: count, copied: 0, failed: 0 });
    expect(again.requests.HeadObject ?? 0).toBe(0);
    await new Promise((r) => setTimeout(r, 50)); // the last closes are asynchronous
    expect(openFds(fs.realpathSync(root))).toBe(0);
  }, 30_000);

  it('follows a directory replaced by another directory: the next object goes to the new one', async () => {
    const { root } = dirs();
    const r = await syncFromBucket({
      root,
      target,
      concurrency: 1,
      onCopied: (p) => {
        if (p !== `${T1}/a.txt`) return;
        fs.renameSync(path.join(root, T1), path.join(root, `${T1}.old`));
        fs.mkdirSync(path.join(root, T1));
      },
    });
    expect(r.counts).toMatchObject({ copied: 2, failed: 0, refused: 0 });
    expect(fs.readdirSync(path.join(root, T1))).toEqual(['b.txt']);
    expect(fs.readFileSync(path.join(root, `${T1}/b.txt`))).toEqual(B);
  }, 30_000);
});

describe('a swap loop racing the copy back (bounded, second line of defence)', () => {
  it('never writes into what a symlink points to', async () => {
    const race = await newBucket('rev-race');
    const t = new S3Transport(race);
    try {
      for (let i = 0; i < 100; i++) await t.putObject(`${T1}/f${i}.txt`, B, md5(B), {});
    } finally {
      t.close();
    }
    const { root, outside } = dirs();
    fs.mkdirSync(path.join(root, T1), { recursive: true });
    await raceSymlinkSwap(path.join(root, T1), outside, 8_000, async () => {
      await syncFromBucket({ root, target: race, throwOnFailure: false });
      expect(fs.readdirSync(outside)).toEqual(['keep.txt']);
    });
  }, 30_000);
});
