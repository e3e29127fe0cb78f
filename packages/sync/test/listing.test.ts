import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { S3Transport, compareKeys } from '../src/index.js';
import { listAll, listParallel } from '../src/listing.js';
import { newBucket } from './helpers.js';

async function collect(it: AsyncIterable<{ key: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const o of it) out.push(o.key);
  return out;
}

describe('listing', () => {
  it('prefix-parallel listing returns exactly the sequential listing, in S3 order', async () => {
    const target = await newBucket('sync-list');
    const keys: string[] = [];
    for (let i = 0; i < 1300; i++)
      keys.push(`upload_files/big-tenant/${String(i).padStart(5, '0')}.txt`);
    for (let t = 0; t < 6; t++)
      for (let i = 0; i < 20; i++) keys.push(`upload_files/t${t}/f${i}.png`);
    keys.push(
      'upload_files//empty-tenant.txt',
      'upload_files/a-b',
      'upload_files/a.b',
      'root.txt',
      'a-b',
      'a/b',
      'a/b/c',
      'ü/中文 x..png',
      'dir-marker/',
      'dir-marker/x',
      'z//y',
    );
    const t = new S3Transport(target, { maxSockets: 32 });
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= keys.length) return;
          const b = Buffer.from(keys[i]!);
          await t.putObject(keys[i]!, b, createHash('md5').update(b).digest(), {});
        }
      }),
    );
    const expected = [...keys].sort(compareKeys);
    expect(await collect(listAll(t, ''))).toEqual(expected);
    t.counts.ListObjectsV2 = 0;
    expect(await collect(listParallel(t, '', 2, 3))).toEqual(expected);
    expect(t.counts.ListObjectsV2).toBeLessThan(30);
    expect(await collect(listParallel(t, 'upload_files/', 1, 2))).toEqual(
      expected.filter((k) => k.startsWith('upload_files/')),
    );
    t.close();
  }, 60_000);
});
