import { write } from 'node:fs';
import { availableParallelism } from 'node:os';
import { constants as zlibConstants, zstdCompress } from 'node:zlib';

/**
 * Uncompressed bytes per zstd frame. At level 3 zstd's window is 2 MiB, so cutting the stream
 * every 4 MiB costs about 1% of the ratio on Dify-like text (measured in docs/performance.md)
 * and lets frames be compressed in parallel.
 */
export const FRAME_BYTES = 4 << 20;

/**
 * Writes a `.tar.zst` as a sequence of independent zstd frames, each with its content checksum.
 * `zstd -d` (and so `tar --zstd` and the restore path) reads concatenated frames as one stream:
 * the format is the one the `zstd` CLI writes, cut into frames.
 *
 * The caller fills `buffer` from `staged` on (tar headers, file content read straight into it,
 * padding) and calls `reserve`/`flush`; a full buffer is compressed on the libuv threadpool
 * (node:zlib's zstd) while the caller fills the next one, and frames are written to `fd` in order.
 * Nothing crosses a pipe to a child process, and file content is copied once, from the kernel
 * into this buffer.
 */
export class FrameWriter {
  buffer: Buffer = Buffer.allocUnsafe(FRAME_BYTES);
  staged = 0;
  /** Compressed bytes written to the file so far. */
  bytesWritten = 0;
  private readonly spare: Buffer[] = [];
  private readonly inFlight: Promise<void>[] = [];
  private tail: Promise<void> = Promise.resolve();
  private readonly maxInFlight: number;

  /**
   * @param threads frames compressed at the same time; 0 = one per core. One more frame is
   *   filled meanwhile.
   */
  constructor(
    private readonly fd: number,
    private readonly level: number,
    threads: number,
  ) {
    this.maxInFlight = (threads === 0 ? availableParallelism() : threads) + 1;
  }

  /** Free bytes in the current buffer. */
  get space(): number {
    return FRAME_BYTES - this.staged;
  }

  /** Makes `bytes` (≤ FRAME_BYTES) contiguous bytes available at `staged`. */
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

  /** Hands the staged bytes to a compression job; waits while too many are in flight. */
  async flush(): Promise<void> {
    if (this.staged === 0) return;
    const full = this.buffer;
    const input = full.subarray(0, this.staged);
    this.buffer = this.spare.pop() ?? Buffer.allocUnsafe(FRAME_BYTES);
    this.staged = 0;
    const frame = compressFrame(input, this.level);
    frame.catch(() => {});
    // Frames are compressed in parallel but written in order.
    const done = this.tail.then(async () => {
      const out = await frame;
      this.spare.push(full);
      await writeAll(this.fd, out);
      this.bytesWritten += out.length;
    });
    done.catch(() => {});
    this.tail = done;
    this.inFlight.push(done);
    while (this.inFlight.length >= this.maxInFlight) await this.inFlight.shift();
  }

  /** Flushes and waits until every frame is on disk (not fsynced). Rejects with a write error. */
  async finish(): Promise<void> {
    await this.flush();
    await this.tail;
  }

  /** After a failure: waits for jobs still running, so that the fd can be closed safely. */
  async settle(): Promise<void> {
    await this.tail.catch(() => {});
  }
}

function compressFrame(input: Buffer, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zstdCompress(
      input,
      {
        // One output chunk (incompressible input grows by a few bytes per 128 KiB block).
        chunkSize: input.length + (input.length >> 7) + 1024,
        pledgedSrcSize: input.length,
        params: {
          [zlibConstants.ZSTD_c_compressionLevel]: level,
          [zlibConstants.ZSTD_c_checksumFlag]: 1,
        },
      },
      (error, out) => (error ? reject(error) : resolve(out)),
    ),
  );
}

function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (offset: number) =>
      write(fd, data, offset, data.length - offset, null, (error, n) => {
        if (error) reject(error);
        else if (offset + n < data.length) next(offset + n);
        else resolve();
      });
    next(0);
  });
}
