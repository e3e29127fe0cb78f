import fs from 'node:fs';
import { openEntry } from '@dify-storage/common';

/**
 * Opens a walk entry path (through its held directory, never following a symlink). Callback fs
 * wrapped by hand: cheaper per call than FileHandle for many small files.
 */
export const open = openEntry;

export function close(fd: number): Promise<void> {
  return new Promise((res) => fs.close(fd, () => res()));
}

export function read(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((res, rej) =>
    fs.read(fd, buf, offset, length, position, (e, n) => (e ? rej(e) : res(n))),
  );
}

export { fstatAsync as fstat, lstatAsync as lstat } from '@dify-storage/common';

/** Reads exactly `length` bytes at `position` (fewer only at end of file). */
export async function readFully(
  fd: number,
  buf: Buffer,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await read(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Same file, same content as far as metadata can tell. */
export function sameVersion(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return (
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs &&
    a.ino === b.ino &&
    a.dev === b.dev
  );
}

/**
 * A bandwidth limit shared by all transfers: each body reserves its time on a virtual link of
 * `bytesPerSec` and waits until that slot begins, so the bytes sent over any stretch of time
 * stay within the rate plus one body (a part, at most) in flight.
 */
export class RateLimiter {
  private free = 0;
  constructor(
    readonly bytesPerSec: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  async take(bytes: number): Promise<void> {
    const now = this.clock();
    const start = Math.max(now, this.free);
    this.free = start + (bytes / this.bytesPerSec) * 1000;
    if (start > now) await new Promise((r) => setTimeout(r, start - now));
  }
}

/** A counting semaphore for bytes in memory (file bodies and parts). */
export class ByteBudget {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  constructor(readonly limit: number) {}

  async acquire(n: number): Promise<number> {
    const want = Math.min(n, this.limit);
    if (this.used + want <= this.limit && this.waiters.length === 0) {
      this.used += want;
      return want;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
    return want;
  }

  release(n: number): void {
    this.used -= n;
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.n <= this.limit) {
      const w = this.waiters.shift()!;
      this.used += w.n;
      w.resolve();
    }
  }
}

/** Runs at most `limit` tasks at once; `run` waits for a free slot (back-pressure for the walk). */
export class TaskPool {
  private active = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    while (this.active >= this.limit) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.active++;
    void task()
      .catch(() => undefined)
      .finally(() => {
        this.active--;
        this.slotWaiters.shift()?.();
        if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  async drain(): Promise<void> {
    while (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }
}

/**
 * Reuses large buffers (multipart parts): allocating a fresh 16 MiB buffer per part lets
 * released-but-uncollected memory pile up to gigabytes before V8 collects it.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;
  constructor(private readonly maxFreeBytes: number) {}

  take(size: number): Buffer {
    const list = this.free.get(size);
    const b = list?.pop();
    if (b) {
      this.freeBytes -= size;
      return b;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  give(b: Buffer): void {
    if (this.freeBytes + b.length > this.maxFreeBytes) return;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    list.push(b);
    this.freeBytes += b.length;
  }
}
