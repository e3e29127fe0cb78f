import { compareKeys } from './keys.js';
import type { ListPage, ObjectInfo, S3Transport } from './transport.js';

/**
 * Streams every object under a prefix in key order, one page ahead (the next page is fetched
 * while the current one is consumed). Memory: two pages.
 */
export async function* listAll(transport: S3Transport, prefix: string): AsyncGenerator<ObjectInfo> {
  let next: Promise<ListPage> | undefined = transport.listObjectsV2({ prefix, maxKeys: 1000 });
  while (next) {
    const page: ListPage = await next;
    next = page.nextToken
      ? transport.listObjectsV2({ prefix, continuationToken: page.nextToken, maxKeys: 1000 })
      : undefined;
    // Keep the prefetch from becoming an unhandled rejection if the consumer stops early.
    next?.catch(() => undefined);
    yield* page.objects;
  }
}

/** The keys of a listing after `after` and up to `through` (both optional, S3 key order). */
export interface KeyRange {
  after?: string;
  through?: string;
}

/**
 * Pulls the pages of one prefix (or of a key range under it) ahead of the consumer (at most
 * `ahead` pages buffered).
 */
export class PagePrefetcher {
  private readonly pages: ObjectInfo[][] = [];
  private inflight: Promise<void> | undefined;
  private token: string | undefined;
  private done = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly transport: S3Transport,
    private readonly prefix: string,
    private readonly ahead = 2,
    private readonly range: KeyRange = {},
  ) {
    this.pump();
  }

  /** Fetches no further page (a consumer that left early). */
  stop(): void {
    this.done = true;
  }

  private pump(): void {
    if (this.inflight || this.done || this.pages.length >= this.ahead) return;
    const { after } = this.range;
    this.inflight = this.transport
      .listObjectsV2({
        prefix: this.prefix,
        maxKeys: 1000,
        ...(this.token
          ? { continuationToken: this.token }
          : after !== undefined
            ? { startAfter: after }
            : {}),
      })
      .then(
        (page) => this.take(page.objects, page.nextToken),
        (e: unknown) => {
          this.error = e;
          this.done = true;
        },
      )
      .finally(() => {
        this.inflight = undefined;
        this.pump();
        this.wake?.();
      });
  }

  /**
   * Keeps the page from the range's start (a server that ignored StartAfter must not list a key
   * in two ranges) up to its end; a key past the end ends the listing.
   */
  private take(objects: ObjectInfo[], nextToken: string | undefined): void {
    const { after, through } = this.range;
    if (after !== undefined && objects.length > 0 && compareKeys(objects[0]!.key, after) <= 0) {
      const start = objects.findIndex((o) => compareKeys(o.key, after) > 0);
      objects = start < 0 ? [] : objects.slice(start);
    }
    let end = objects.length;
    if (through !== undefined && end > 0 && compareKeys(objects[end - 1]!.key, through) > 0) {
      end = objects.findIndex((o) => compareKeys(o.key, through) > 0);
      this.done = true;
    }
    if (end > 0) this.pages.push(end === objects.length ? objects : objects.slice(0, end));
    this.token = nextToken;
    if (!nextToken) this.done = true;
  }

  async *drain(): AsyncGenerator<ObjectInfo[]> {
    for (;;) {
      const page = this.pages.shift();
      if (page) {
        this.pump();
        yield page;
        continue;
      }
      if (this.error) throw this.error;
      if (this.done && !this.inflight) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

type Segment = { kind: 'obj'; obj: ObjectInfo } | { kind: 'prefix'; prefix: string };

/** The keyspace under `prefix` as objects and sub-prefixes, in key order, `depth` levels down. */
async function* segments(t: S3Transport, prefix: string, depth: number): AsyncGenerator<Segment> {
  if (depth === 0) {
    yield { kind: 'prefix', prefix };
    return;
  }
  let token: string | undefined;
  do {
    const page = await t.listObjectsV2({
      prefix,
      delimiter: '/',
      maxKeys: 1000,
      ...(token ? { continuationToken: token } : {}),
    });
    let i = 0;
    let j = 0;
    while (i < page.objects.length || j < page.prefixes.length) {
      const o = page.objects[i];
      const p = page.prefixes[j];
      if (o && (p === undefined || compareKeys(o.key, p) < 0)) {
        yield { kind: 'obj', obj: o };
        i++;
      } else {
        yield* segments(t, p!, depth - 1);
        j++;
      }
    }
    token = page.nextToken;
  } while (token);
}

/**
 * Every object under `prefix` in key order, with the sub-prefixes `depth` levels down
 * (e.g. `upload_files/<tenant>/`) listed `width` at a time: a listing of millions of keys is
 * sequential pages per prefix, so prefixes in parallel divide its time. Memory: `width` × 3 pages.
 */
export async function* listParallel(
  transport: S3Transport,
  prefix: string,
  depth = 2,
  width = 4,
): AsyncGenerator<ObjectInfo> {
  for await (const page of listParallelPages(transport, prefix, depth, width)) yield* page;
}

/** listParallel a page at a time (for ListingCursor: one async step per page, not per object). */
export async function* listParallelPages(
  transport: S3Transport,
  prefix: string,
  depth = 2,
  width = 4,
): AsyncGenerator<ObjectInfo[]> {
  const segs = segments(transport, prefix, depth);
  const window: ({ kind: 'obj'; obj: ObjectInfo } | { kind: 'stream'; pf: PagePrefetcher })[] = [];
  let streams = 0;
  let ended = false;
  const refill = async (): Promise<void> => {
    while (!ended && streams < width && window.length < 2000) {
      const n = await segs.next();
      if (n.done) {
        ended = true;
        break;
      }
      if (n.value.kind === 'obj') window.push(n.value);
      else {
        window.push({ kind: 'stream', pf: new PagePrefetcher(transport, n.value.prefix) });
        streams++;
      }
    }
  };
  try {
    for (;;) {
      await refill();
      const head = window.shift();
      if (!head) return;
      if (head.kind === 'obj') yield [head.obj];
      else {
        // Start the next prefixes before draining this one, so `width` list at once.
        streams--;
        await refill();
        yield* head.pf.drain();
      }
    }
  } finally {
    await segs.return(undefined);
  }
}
