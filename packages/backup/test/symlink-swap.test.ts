import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { raceSymlinkSwap, swapForSymlink } from '../../../action-tests/src/symlink-swap.js';
import { createBackup, type CreateBackupResult } from '../src/index.js';
import { removeDir, tempDir } from './helpers.js';

// A Dify pod can write into the storage directory: between the walk classifying an entry and the
// archiver opening it, it can swap a directory or a file for a symlink to anything on the node.
const CANARY = 'canary-outside-the-storage-root-4b1e8d';
const cleanup: string[] = [];
afterAll(async () => {
  for (const d of cleanup) await removeDir(d);
});

async function setup(): Promise<{ root: string; outside: string; backups: string }> {
  const work = await tempDir('swap');
  cleanup.push(work);
  const root = path.join(work, 'storage');
  const outside = path.join(work, 'outside');
  for (const rel of ['upload_files/t0', 'upload_files/t1', 'upload_files/t2'])
    fs.mkdirSync(path.join(root, rel), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.txt'), CANARY);
  fs.writeFileSync(path.join(outside, 'a.txt'), CANARY);
  fs.writeFileSync(path.join(root, 'upload_files/t0/ok.txt'), 'fine');
  fs.writeFileSync(path.join(root, 'upload_files/t1/a.txt'), 'tenant one');
  fs.writeFileSync(path.join(root, 'upload_files/t2/b.txt'), 'tenant two');
  return { root, outside, backups: path.join(work, 'backups') };
}

/** The canary neither in the manifest nor in the archive's decompressed bytes. */
function leaks(result: CreateBackupResult): boolean {
  const tar = spawnSync('zstd', ['-q', '-d', '-c', result.archivePath], { maxBuffer: 1 << 28 });
  if (tar.status !== 0) throw new Error(`zstd -d failed: ${String(tar.stderr)}`);
  return (
    tar.stdout.includes(CANARY) || fs.readFileSync(result.manifestPath, 'utf8').includes(CANARY)
  );
}

const backup = (root: string, backups: string, beforeOpen?: (p: string) => void) =>
  createBackup({
    storageDir: root,
    backupDir: backups,
    marginRatio: 0,
    verify: false,
    ...(beforeOpen ? { hooks: { beforeOpen } } : {}),
  });

describe('an entry swapped for a symlink between the walk and the open', () => {
  it('a directory: nothing from outside the root is archived, the entry is reported', async () => {
    const { root, outside, backups } = await setup();
    const result = await backup(root, backups, (p) => {
      if (p === 'upload_files/t1') swapForSymlink(root, p, outside);
    });
    expect(leaks(result)).toBe(false);
    expect(result.record.counts.skippedSample).toContainEqual(
      expect.objectContaining({ path: 'upload_files/t1', reason: 'changed-during-walk' }),
    );
  });

  it('a file: nothing from outside the root is archived, the entry is reported', async () => {
    const { root, outside, backups } = await setup();
    const result = await backup(root, backups, (p) => {
      if (p === 'upload_files/t2/b.txt') swapForSymlink(root, p, path.join(outside, 'secret.txt'));
    });
    expect(leaks(result)).toBe(false);
    expect(result.record.counts.skippedSample).toContainEqual(
      expect.objectContaining({ path: 'upload_files/t2/b.txt', reason: 'changed-during-walk' }),
    );
  });
});

describe('a swap loop racing the backup (bounded, second line of defence)', () => {
  it('never archives what a symlink points to', async () => {
    const { root, outside, backups } = await setup();
    for (let i = 0; i < 300; i++)
      fs.writeFileSync(path.join(root, `upload_files/t1/f${i}.txt`), `tenant one ${i}`);
    const t1 = path.join(root, 'upload_files/t1');
    await raceSymlinkSwap(t1, outside, 10_000, async (run) => {
      const result = await backup(root, path.join(backups, String(run)));
      expect(leaks(result)).toBe(false);
    });
  }, 30_000);
});
