import { compareKeys } from './keys.js';
import type { ObjectInfo } from './transport.js';

/**
 * A merge-join cursor over a sorted listing: `seek(key)` answers the object with that key (if
 * any) and counts every object passed over as extra (in the bucket, not in the source).
 */
export class ListingCursor {
  private readonly iter: AsyncIterator<ObjectInfo>;
  private current: ObjectInfo | undefined;
  private started = false;
  private ended = false;
  extraCount = 0;
  extraBytes = 0;
  readonly extraSample: string[] = [];

  constructor(
    source: AsyncIterable<ObjectInfo>,
    private readonly onExtra?: (o: ObjectInfo) => void,
    private readonly sampleLimit = 100,
  ) {
    this.iter = source[Symbol.asyncIterator]();
  }

  private async advance(): Promise<void> {
    const n = await this.iter.next();
    if (n.done) {
      this.ended = true;
      this.current = undefined;
    } else this.current = n.value;
  }

  private extra(o: ObjectInfo): void {
    this.extraCount++;
    this.extraBytes += o.size;
    if (this.extraSample.length < this.sampleLimit) this.extraSample.push(o.key);
    this.onExtra?.(o);
  }

  async seek(key: string): Promise<ObjectInfo | undefined> {
    if (!this.started) {
      this.started = true;
      await this.advance();
    }
    while (!this.ended && this.current && compareKeys(this.current.key, key) < 0) {
      this.extra(this.current);
      await this.advance();
    }
    if (this.current && this.current.key === key) {
      const hit = this.current;
      await this.advance();
      return hit;
    }
    return undefined;
  }

  /** Consumes the rest of the listing (all extra). */
  async finish(): Promise<void> {
    if (!this.started) {
      this.started = true;
      await this.advance();
    }
    while (!this.ended && this.current) {
      this.extra(this.current);
      await this.advance();
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
    yield { item, key, object: key === undefined ? undefined : await cursor.seek(key) };
  }
}
