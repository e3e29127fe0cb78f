import { compareKeys } from './keys.js';
import { PagePrefetcher } from './listing.js';
import type { ObjectInfo, S3Transport } from './transport.js';

/**
 * Every object under `prefix` in key order, listed flat (no delimiter, 1,000 keys a page) in
 * `count` key ranges, the one being read and `width` more at once, each `ahead` pages ahead.
 * Against one listing per tenant prefix (≈ 1,500 at 100k Dify files, ≈ 70 keys each) this sends
 * ≈ 1 request per 1,000 keys, and RGW with its OSD spent ≈ 40 % less CPU on the same 101,000
 * keys (issue 17 §3, docs/performance.md).
 * The ranges are (b[i-1], b[i]] for boundaries b in key order: whatever the boundaries, each key
 * falls in exactly one range, so they only decide the balance. Memory: (width + 1) × ahead pages.
 */
export async function* listKeyRanges(
  transport: S3Transport,
  prefix: string,
  width: number,
  count: number,
  ahead = 4,
): AsyncGenerator<ObjectInfo> {
  const bounds = await boundaries(transport, prefix, count);
  const lanes: PagePrefetcher[] = [];
  let next = 0;
  const open = (): void => {
    while (lanes.length < width && next <= bounds.length) {
      const range = { after: bounds[next - 1], through: bounds[next] };
      lanes.push(new PagePrefetcher(transport, prefix, ahead, range));
      next++;
    }
  };
  open();
  try {
    for (let lane = lanes.shift(); lane; lane = lanes.shift()) {
      open();
      for await (const page of lane.drain()) yield* page;
    }
  } finally {
    for (const lane of lanes) lane.stop();
  }
}

/**
 * `count - 1` boundaries in key order, spread over the sub-prefixes one level down, or two
 * (`upload_files/<tenant>`, the first page of each) when the first level has fewer than `count`:
 * where a Dify bucket's keys are. At most `count` requests, the second level's at once.
 */
async function boundaries(t: S3Transport, prefix: string, count: number): Promise<string[]> {
  const list = async (p: string) =>
    (await t.listObjectsV2({ prefix: p, delimiter: '/', maxKeys: 1000 })).prefixes;
  const top = await list(prefix);
  const subs = top.length >= count ? top : [...top, ...(await Promise.all(top.map(list))).flat()];
  // `a/t` sorts before every key of `a/t/`; sorted again: `a/t-x/` lists before `a/t/`.
  const keys = [...new Set(subs.map((p) => p.slice(0, -1)))].sort(compareKeys);
  const out: string[] = [];
  for (let i = 1; i < count && keys.length; i++) {
    const b = keys[Math.floor((i * keys.length) / count)]!;
    if (out.length === 0 || compareKeys(b, out[out.length - 1]!) > 0) out.push(b);
  }
  return out;
}
