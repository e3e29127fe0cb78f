import { describe, expect, it } from '@jest/globals';
import { syncToBucket } from '../src/index.js';
import { bytes, listKeys, newBucket, tempDir, writeFile } from './helpers.js';

// bandwidth-limit, by outcome: the copy takes as long as the limit says, and the bucket is whole.
describe('bandwidthLimit', () => {
  it('holds a copy to the rate given (all transfers together), every byte still copied', async () => {
    const target = await newBucket('bwlimit');
    const root = tempDir('bwlimit');
    const size = 64 * 1024;
    for (let i = 0; i < 24; i++)
      writeFile(root, `upload_files/t${i % 3}/f${i}.bin`, bytes(size, i));
    const limit = 256 * 1024; // 1.5 MiB at 256 KiB/s: ≥ 5.75 s (the first body goes at once)
    const t0 = performance.now();
    const r = await syncToBucket({ root, target, bandwidthLimit: limit, concurrency: 16 });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.counts.copied).toBe(24);
    expect(seconds).toBeGreaterThanOrEqual((24 * size - size) / limit - 0.05);
    const keys = await listKeys(target);
    expect([...keys.values()].reduce((a, o) => a + o.size, 0)).toBe(24 * size);
  }, 60_000);

  it('refuses a rate that is not a whole number of bytes per second', async () => {
    const target = await newBucket('bwlimit-bad');
    await expect(
      syncToBucket({ root: tempDir('bwlimit-bad'), target, bandwidthLimit: 1.5 }),
    ).rejects.toThrow('bandwidthLimit must be an integer');
  });
});
