import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createZstdCompress, type ZstdCompress } from 'node:zlib';

/** Bytes of tar handed to zstd at a time; a whole small file (≤ 1 MiB) fits with its header. */
export const BUFFER_BYTES = 2 << 20;
/** Buffers handed over and not yet consumed: one compressing, the rest queued. */
const MAX_IN_FLIGHT = 3;

/**
 * Writes a `.tar.zst`: the tar stream is compressed in this process by node:zlib's zstd (one
 * stream, one frame with its content checksum, the format the `zstd` CLI writes) on a libuv
 * threadpool thread while the caller fills the next buffer, and written to `fd`.
 *
 * The caller fills `buffer` from `staged` on (tar headers, file content read straight into it,
 * padding) and calls `reserve`/`flush`. Buffers are recycled once zstd has consumed them: file
 * content is copied once, from the kernel into this buffer, and nothing crosses a pipe to a
 * child process. Recycling matters: V8 counts Buffer memory toward its GC limits, and a fresh
 * buffer per chunk made the small JS heap run a full GC every ~15 MB (docs/performance.md).
 */
export class ArchiveWriter {
  buffer: Buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  staged = 0;
  private readonly spare: Buffer[] = [];
  private readonly zstd: ZstdCompress;
  private readonly out: ReturnType<typeof createWriteStream>;
  private readonly done: Promise<void>;
  private inFlight = 0;
  private wake: (() => void) | null = null;

  constructor(fd: number, level: number) {
    this.zstd = createZstdCompress({
      chunkSize: 256 << 10,
      params: {
        [zlibConstants.ZSTD_c_compressionLevel]: level,
        [zlibConstants.ZSTD_c_checksumFlag]: 1,
      },
    });
    this.out = createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 });
    this.done = pipeline(this.zstd, this.out);
    this.done.catch(() => {});
  }

  /** Compressed bytes written to the file (final after finish). */
  get bytesWritten(): number {
    return this.out.bytesWritten;
  }

  /** Free bytes in the current buffer. */
  get space(): number {
    return BUFFER_BYTES - this.staged;
  }

  /** Makes `bytes` (≤ BUFFER_BYTES) contiguous bytes available at `staged`. */
  async reserve(bytes: number): Promise<void> {
    if (bytes > this.space) await this.flush();
  }

  /** Copies `data` (which must fit, see reserve) at `staged`. */
  put(data: Buffer): void {
    data.copy(this.buffer, this.staged);
    this.staged += data.length;
  }

  /** Appends `count` zero bytes (which must fit). */
  zeros(count: number): void {
    this.buffer.fill(0, this.staged, this.staged + count);
    this.staged += count;
  }

  /** Hands the staged bytes to zstd; waits while too many buffers are not consumed yet. */
  async flush(): Promise<void> {
    if (this.staged === 0) return;
    const full = this.buffer;
    this.buffer = this.spare.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES);
    this.inFlight += 1;
    // zlib calls back once it has consumed the input: the buffer can be filled again.
    this.zstd.write(full.subarray(0, this.staged), () => {
      this.inFlight -= 1;
      this.spare.push(full);
      this.wake?.();
    });
    this.staged = 0;
    while (this.inFlight >= MAX_IN_FLIGHT) {
      const slot = new Promise<void>((resolve) => (this.wake = resolve));
      await Promise.race([slot, this.done]); // a write error (ENOSPC) rejects `done`
    }
  }

  /** Flushes, ends the zstd stream and waits until it is written (not fsynced). */
  async finish(): Promise<void> {
    await this.flush();
    this.zstd.end();
    await this.done;
  }

  /** After a failure: stops zstd and waits for pending writes, so that the fd can be closed. */
  async settle(): Promise<void> {
    this.zstd.destroy();
    await this.done.catch(() => {});
  }
}
