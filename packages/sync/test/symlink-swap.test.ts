import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { raceSymlinkSwap, swapForSymlink } from '../../../action-tests/src/symlink-swap.js';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket } from '../src/index.js';
import { getObject, listKeys, newBucket, tempDir, writeFile } from './helpers.js';

// A Dify pod can write into the storage directory: between the walk classifying an entry and the
// engine opening it, it can swap a directory or a file for a symlink to anything on the node.
const CANARY = 'canary-outside-the-storage-root-7f3a9c';
const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

function setup(): { root: string; outside: string } {
  const root = tempDir('swap');
  const outside = tempDir('canary');
  cleanup.push(root, outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), CANARY);
  writeFile(root, 'upload_files/t0/ok.txt', 'fine');
  writeFile(root, 'upload_files/t1/a.txt', 'tenant one');
  writeFile(root, 'upload_files/t2/b.txt', 'tenant two');
  return { root, outside };
}

/** Reads back every object large enough to hold the canary (the tenants' own files are not). */
async function bucketHasCanary(target: S3Target): Promise<boolean> {
  for (const [key, { size }] of await listKeys(target)) {
    if (size >= CANARY.length && (await getObject(target, key)).includes(CANARY)) return true;
  }
  return false;
}

/** Copies `root`, swapping `rel` for a symlink to `to` when the engine is about to open `when`. */
async function copySwapping(root: string, when: string, rel: string, to: string) {
  const target = await newBucket('sync-swap');
  const report = await syncToBucket({
    root,
    target,
    throwOnFailure: false,
    hooks: { beforeOpen: (r) => (r === when ? swapForSymlink(root, rel, to) : undefined) },
  });
  return { target, report };
}

describe('an entry swapped for a symlink between the walk and the open', () => {
  it('a directory: nothing from outside the root is uploaded, the entry is reported', async () => {
    const { root, outside } = setup();
    const t1 = 'upload_files/t1';
    const { target, report } = await copySwapping(root, `${t1}/`, t1, outside);
    expect(await bucketHasCanary(target)).toBe(false);
    expect([...(await listKeys(target)).keys()].sort()).toEqual([
      'upload_files/t0/ok.txt',
      'upload_files/t2/b.txt',
    ]);
    expect(report.unsupported).toContainEqual(
      expect.objectContaining({ path: 'upload_files/t1/', reason: 'changed-during-walk' }),
    );
  });

  it('a file: nothing from outside the root is uploaded, the entry is reported', async () => {
    const { root, outside } = setup();
    const b = 'upload_files/t2/b.txt';
    const { target, report } = await copySwapping(root, b, b, path.join(outside, 'secret.txt'));
    expect(await bucketHasCanary(target)).toBe(false);
    expect(report.unsupported).toContainEqual(
      expect.objectContaining({ path: b, reason: 'changed-during-walk' }),
    );
  });

  it('a parent directory swapped after it was opened: its files still come from the root', async () => {
    const { root, outside } = setup();
    fs.mkdirSync(path.join(outside, 't2'));
    fs.writeFileSync(path.join(outside, 't2', 'b.txt'), CANARY);
    // upload_files is open by now: the walk reaches t2 through the directory it holds.
    const { target } = await copySwapping(root, 'upload_files/t2/', 'upload_files', outside);
    expect(await bucketHasCanary(target)).toBe(false);
    expect((await getObject(target, 'upload_files/t2/b.txt')).toString()).toBe('tenant two');
  });
});

describe('a swap loop racing the copy (bounded, second line of defence)', () => {
  it('never uploads what a symlink points to', async () => {
    const { root, outside } = setup();
    for (let i = 0; i < 200; i++) writeFile(root, `upload_files/t1/f${i}.txt`, `tenant one ${i}`);
    fs.mkdirSync(path.join(outside, 'sub'));
    fs.writeFileSync(path.join(outside, 'f1.txt'), CANARY);
    const t1 = path.join(root, 'upload_files/t1');
    await raceSymlinkSwap(t1, outside, 10_000, async () => {
      const target = await newBucket('sync-race');
      await syncToBucket({ root, target, throwOnFailure: false });
      expect(await bucketHasCanary(target)).toBe(false);
    });
    // The race is bounded at 10 s (no attempt starts after); the margin is for one slow attempt
    // on a loaded 2-core machine (the swap loop itself takes a core).
  }, 60_000);
});
