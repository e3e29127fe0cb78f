import { compareKeys } from './keys.js';
import type { ObjectInfo } from './transport.js';

/**
 * A merge-join cursor over a sorted listing, read a page at a time: `seek(key)` answers the object
 * with that key (if any) and counts every object passed over as extra (in the bucket, not in the
 * source). Within a page it answers at once, without a promise: per object, an async step of
 * the listing cost allocations that made up a tenth of a walk's scavenges (docs/performance.md).
 */
export class ListingCursor {
  private readonly iter: AsyncIterator<readonly ObjectInfo[]>;
  private page: readonly ObjectInfo[] = [];
  private index = 0;
  private ended = false;
  extraCount = 0;
  extraBytes = 0;
  readonly extraSample: string[] = [];

  constructor(
    pages: AsyncIterable<readonly ObjectInfo[]>,
    private readonly onExtra?: (o: ObjectInfo) => void,
    private readonly sampleLimit = 100,
  ) {
    this.iter = pages[Symbol.asyncIterator]();
  }

  /** The object under the cursor (undefined at the end); a promise only when a page must come. */
  private head(): ObjectInfo | undefined | Promise<ObjectInfo | undefined> {
    if (this.index < this.page.length) return this.page[this.index];
    return this.ended ? undefined : this.nextPage();
  }

  private async nextPage(): Promise<ObjectInfo | undefined> {
    while (this.index >= this.page.length) {
      const n = await this.iter.next();
      if (n.done) {
        this.ended = true;
        return undefined;
      }
      this.page = n.value;
      this.index = 0;
    }
    return this.page[this.index];
  }

  private extra(o: ObjectInfo): void {
    this.extraCount++;
    this.extraBytes += o.size;
    if (this.extraSample.length < this.sampleLimit) this.extraSample.push(o.key);
    this.onExtra?.(o);
  }

  /** The object with this key, if any; keys must be asked in increasing order. */
  seek(key: string): ObjectInfo | undefined | Promise<ObjectInfo | undefined> {
    for (;;) {
      const o = this.head();
      if (o instanceof Promise) return o.then(() => this.seek(key));
      if (o === undefined) return undefined;
      const order = compareKeys(o.key, key);
      if (order > 0) return undefined;
      this.index++;
      if (order === 0) return o;
      this.extra(o);
    }
  }

  /** Consumes the rest of the listing (all extra). */
  async finish(): Promise<void> {
    for (;;) {
      const o = await this.head();
      if (o === undefined) return;
      this.index++;
      this.extra(o);
    }
  }
}

/** One source item and the object of the same key (if any). */
export interface Matched<T> {
  item: T;
  /** Undefined for an item that has no key (not a file, or a key S3 cannot hold): not matched. */
  key: string | undefined;
  object: ObjectInfo | undefined;
}

/**
 * The merge-join of a source in S3 key order (the walk of a tree, a sorted manifest) with the
 * bucket listing, in the manner of rclone's fs/march: every source item comes out paired with
 * the object of its key or none, and the objects no source key reaches go to the cursor's
 * `onExtra` (the rest of them when `cursor.finish()` is called after the source ends). Both
 * sides are streamed: memory is one item of each, whatever the size of the tree.
 */
export async function* march<T>(
  source: AsyncIterable<T>,
  keyOf: (item: T) => string | undefined,
  cursor: ListingCursor,
): AsyncGenerator<Matched<T>> {
  for await (const item of source) {
    const key = keyOf(item);
    const found = key === undefined ? undefined : cursor.seek(key);
    yield { item, key, object: found instanceof Promise ? await found : found };
  }
}
