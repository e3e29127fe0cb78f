import { describe, expect, it } from '@jest/globals';
import { compareKeys } from '../src/index.js';
import { ListingCursor, march } from '../src/march.js';
import type { ObjectInfo } from '../src/transport.js';

// The merge-join stage alone: in-memory sources, no server.
async function* from<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}
/** A listing in pages of two objects (and an empty page), as the cursor reads it. */
async function* pages(objects: readonly ObjectInfo[]): AsyncGenerator<ObjectInfo[]> {
  yield [];
  for (let i = 0; i < objects.length; i += 2) yield objects.slice(i, i + 2);
}
const obj = (key: string, size = 1): ObjectInfo => ({
  key,
  size,
  etag: 'e',
  lastModified: '2026-01-01T00:00:00.000Z',
});

async function join(
  tree: readonly (string | null)[],
  bucket: readonly string[],
): Promise<{ pairs: [string | null, string | undefined][]; extra: string[] }> {
  const extra: string[] = [];
  const cursor = new ListingCursor(pages(bucket.map((k) => obj(k))), (o) => extra.push(o.key));
  const pairs: [string | null, string | undefined][] = [];
  for await (const m of march(from(tree), (k) => k ?? undefined, cursor))
    pairs.push([m.item, m.object?.key]);
  await cursor.finish();
  return { pairs, extra };
}

describe('march: the tree merge-joined with the listing', () => {
  it('pairs equal keys, leaves source-only keys unpaired and reports bucket-only keys as extra', async () => {
    const { pairs, extra } = await join(['a', 'b/1', 'b/3', 'd'], ['a', 'b/2', 'b/3', 'c', 'e']);
    expect(pairs).toEqual([
      ['a', 'a'],
      ['b/1', undefined],
      ['b/3', 'b/3'],
      ['d', undefined],
    ]);
    expect(extra).toEqual(['b/2', 'c', 'e']);
  });

  it('follows S3 key order (UTF-8 bytes), not UTF-16 order', async () => {
    // U+FF61 sorts after U+1F600 in UTF-16 code units but before it in UTF-8 bytes.
    const keys = ['x/\u{1F600}', 'x/\uFF61'].sort(compareKeys);
    expect(keys).toEqual(['x/\uFF61', 'x/\u{1F600}']);
    const { pairs, extra } = await join(keys, keys);
    expect(pairs).toEqual(keys.map((k) => [k, k]));
    expect(extra).toEqual([]);
  });

  it('passes items without a key through unpaired, without moving the listing', async () => {
    const { pairs, extra } = await join(['a', null, 'b'], ['a', 'b']);
    expect(pairs).toEqual([
      ['a', 'a'],
      [null, undefined],
      ['b', 'b'],
    ]);
    expect(extra).toEqual([]);
  });

  it('an empty tree makes every object extra; an empty bucket pairs nothing', async () => {
    expect(await join([], ['a', 'b'])).toEqual({ pairs: [], extra: ['a', 'b'] });
    expect(await join(['a'], [])).toEqual({ pairs: [['a', undefined]], extra: [] });
  });

  it('counts and samples the extra objects, capped', async () => {
    const cursor = new ListingCursor(pages(['a', 'b', 'c'].map((k) => obj(k, 10))), undefined, 2);
    expect(await cursor.seek('b')).toMatchObject({ key: 'b' });
    await cursor.finish();
    expect([cursor.extraCount, cursor.extraBytes, cursor.extraSample]).toEqual([2, 20, ['a', 'c']]);
  });

  it('answers within a page at once, and waits only for the next page', async () => {
    const cursor = new ListingCursor(pages(['a', 'b', 'c', 'd'].map((k) => obj(k))));
    const first = cursor.seek('a');
    expect(first).toBeInstanceOf(Promise); // the first page has to come
    expect(await first).toMatchObject({ key: 'a' });
    expect(cursor.seek('b')).toMatchObject({ key: 'b' }); // same page: no promise
    expect(await cursor.seek('d')).toMatchObject({ key: 'd' }); // next page; 'c' is extra
    expect(cursor.extraCount).toBe(1);
  });
});
