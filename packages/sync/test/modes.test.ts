import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  S3Transport,
  formatProgress,
  syncFromBucket,
  syncToBucket,
  type ProgressEvent,
} from '../src/index.js';
import { bytes, listKeys, newBucket, tempDir, writeFile } from './helpers.js';

const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

describe('modes', () => {
  it('dry run decides and reports but writes nothing (no PUT, no state)', async () => {
    const target = await newBucket('sync-dry');
    const root = tempDir('dry');
    const stateDir = path.join(tempDir('dry-state'), 'state');
    cleanup.push(root, path.dirname(stateDir));
    for (let i = 0; i < 30; i++) writeFile(root, `a/${i}.txt`, bytes(100 + i, i));
    const r = await syncToBucket({ root, target, stateDir, dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.counts).toMatchObject({ files: 30, copied: 30 });
    expect(r.bytes.copied).toBeGreaterThan(0);
    expect(r.requests.PutObject).toBeUndefined();
    expect((await listKeys(target)).size).toBe(0);
    expect(fs.existsSync(stateDir)).toBe(false);
  });

  it('excludes globs, reports progress with counts and an ETA-capable total', async () => {
    const target = await newBucket('sync-excl');
    const root = tempDir('excl');
    cleanup.push(root);
    for (let i = 0; i < 40; i++) writeFile(root, `keep/${i}.bin`, bytes(2000, i));
    writeFile(root, 'keep/x.tmp', 'tmp');
    writeFile(root, 'cache/big.bin', bytes(5000, 1));
    const events: ProgressEvent[] = [];
    const r = await syncToBucket({
      root,
      target,
      exclude: ['*.tmp', 'cache/'],
      onProgress: (e) => events.push(e),
      progressIntervalMs: 100,
    });
    expect(r.counts).toMatchObject({ copied: 40, excluded: 2 });
    expect(
      [...(await listKeys(target)).keys()].every(
        (k) => k.startsWith('keep/') && !k.endsWith('.tmp'),
      ),
    ).toBe(true);
    const last = events.at(-1)!;
    expect(last).toMatchObject({
      phase: 'done',
      filesDone: 40,
      filesSeen: 40,
      copied: 40,
      scanComplete: true,
    });
    expect(formatProgress(last)).toMatch(/^40\/40 files \(40 copied, 0 skipped, 0 failed\)/);
  });

  it('reverse sync with a cutoff copies only objects modified after it', async () => {
    const target = await newBucket('sync-cut');
    const t = new S3Transport(target);
    const put = async (k: string): Promise<void> => {
      const b = Buffer.from(k);
      await t.putObject(k, b, createHash('md5').update(b).digest(), {});
    };
    await put('old/one.txt');
    await put('old/two.txt');
    // LastModified has one-second resolution.
    await new Promise((r) => setTimeout(r, 2100));
    // Whole seconds: the old objects are at least 2 s before it, the new one at or after it.
    const cutoff = new Date(Math.floor(Date.now() / 1000) * 1000 - 1);
    await put('new/three.txt');
    t.close();
    const dest = tempDir('cut');
    cleanup.push(dest);
    const r = await syncFromBucket({ root: dest, target, modifiedAfter: cutoff });
    expect(r.counts).toMatchObject({ files: 3, copied: 1, skipped: 2 });
    expect(fs.readFileSync(path.join(dest, 'new/three.txt'), 'utf8')).toBe('new/three.txt');
    expect(fs.existsSync(path.join(dest, 'old'))).toBe(false);
  });
});
