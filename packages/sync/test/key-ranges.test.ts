import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3Transport, listAll } from '../src/index.js';
import { listKeyRanges } from '../src/key-ranges.js';
import { newBucket } from './helpers.js';

// The reverse sync lists flat key ranges in parallel (issue 17 §3). Whatever the boundaries, the
// result must be the listing itself: every key once, in S3's order, none past a range's end.
describe('listKeyRanges', () => {
  let t: S3Transport;
  const keys: string[] = [];

  beforeAll(async () => {
    t = new S3Transport(await newBucket('ranges'));
    // Where the listing's order and the prefixes' disagree (`t-x/` before `t/`, `t.x` between,
    // a file named like a directory, a directory marker), deeper levels, keys at the top, and
    // more keys than a page in one tenant, so ranges end inside a page and continue past one.
    for (const tenant of ['t', 't-x', 't.x', 'u', 'é', '😀']) {
      for (let i = 0; i < 6; i++) keys.push(`upload_files/${tenant}/${i}.pdf`);
      keys.push(`upload_files/${tenant}/deeper/x/y.bin`);
    }
    keys.push('upload_files/t', 'upload_files/t/', 'upload_files.x', 'a-top-file', 'zz/y');
    for (let i = 0; i < 1003; i++)
      keys.push(`image_files/big/${createHash('md5').update(String(i)).digest('hex')}.png`);
    for (let i = 0; i < keys.length; i += 32)
      await Promise.all(keys.slice(i, i + 32).map((k) => put(k)));
  }, 120_000);

  afterAll(() => t.close());

  function put(k: string): Promise<string> {
    const b = Buffer.from(k);
    return t.putObject(k, b, createHash('md5').update(b).digest(), {});
  }

  it.each([
    ['', 1, 1],
    ['', 3, 7],
    ['', 16, 16],
    ['', 2, 200],
    ['upload_files/', 4, 5],
    ['image_files/big/', 2, 3],
  ])(
    'prefix %p, %i at once, %i ranges: the listing, in order',
    async (prefix, width, count) => {
      const want: string[] = [];
      for await (const o of listAll(t, prefix)) want.push(o.key);
      expect(want.length).toBe(keys.filter((k) => k.startsWith(prefix)).length);
      const got: string[] = [];
      for await (const o of listKeyRanges(t, prefix, width, count)) got.push(o.key);
      expect(got).toEqual(want);
    },
    60_000,
  );

  it('is still the listing behind a server or proxy that ignores StartAfter', async () => {
    const broken = Object.create(t) as S3Transport;
    const requests: string[] = [];
    broken.listObjectsV2 = (q) => {
      requests.push(q.delimiter ? 'probe' : 'page');
      return t.listObjectsV2({ ...q, startAfter: undefined });
    };
    const want: string[] = [];
    for await (const o of listAll(t, '')) want.push(o.key);
    const got: string[] = [];
    for await (const o of listKeyRanges(broken, '', 4, 8)) got.push(o.key);
    expect(got).toEqual(want);
    // The boundaries cost at most one request per range (here: the root and its 3 directories).
    expect(requests.filter((r) => r === 'probe').length).toBeLessThanOrEqual(8);
  }, 60_000);
});
