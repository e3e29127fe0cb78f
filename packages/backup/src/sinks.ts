import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

const STAGE_BYTES = 1 << 20;
const DIRECT_BYTES = 256 << 10;

/**
 * Collects small pieces (tar headers, padding, small files, NDJSON lines) into ~1 MiB writes;
 * large pieces go through as they are. Fewer, larger writes keep the event loop cheap per file.
 */
abstract class Batcher {
  private stage = Buffer.allocUnsafe(STAGE_BYTES);
  private staged = 0;

  protected abstract sink(chunk: Buffer): Promise<void>;

  async write(data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length >= DIRECT_BYTES) {
      await this.flush();
      await this.sink(buf);
      return;
    }
    if (this.staged + buf.length > STAGE_BYTES) await this.flush();
    buf.copy(this.stage, this.staged);
    this.staged += buf.length;
  }

  async flush(): Promise<void> {
    if (this.staged === 0) return;
    const chunk = this.stage.subarray(0, this.staged);
    // The sink may hold on to the chunk (stream buffering): never reuse its memory.
    this.stage = Buffer.allocUnsafe(STAGE_BYTES);
    this.staged = 0;
    await this.sink(chunk);
  }
}

/** A new file (never overwrites), written in batches, hashed as written, fsynced on close. */
export class FileSink extends Batcher {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {
    super();
  }

  static async create(path: string, mode = 0o600): Promise<FileSink> {
    const fh = await open(path, 'wx', mode);
    await fh.chmod(mode); // the umask may have removed bits; make the mode exact
    return new FileSink(path, fh);
  }

  protected async sink(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, offset, chunk.length - offset, null);
      offset += bytesWritten;
    }
  }

  /** Flushes, fsyncs and closes; returns the size and sha256 of everything written. */
  async close(): Promise<{ bytes: number; sha256: string }> {
    await this.flush();
    await this.fh.sync();
    this.closed = true;
    await this.fh.close();
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Closes without flushing (after a failure); the caller removes the file. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => {});
  }
}

/** Batched writes into a stream (a child's stdin) with backpressure; fails fast if it breaks. */
export class StreamSink extends Batcher {
  constructor(
    private readonly stream: Writable,
    /** Returns the error to raise when the consumer is gone (e.g. zstd exited). */
    private readonly brokenReason: () => Error | null,
    private readonly maxQueuedBytes = 8 << 20,
  ) {
    super();
  }

  protected async sink(chunk: Buffer): Promise<void> {
    const broken = this.brokenReason();
    if (broken) throw broken;
    this.stream.write(chunk);
    // Let a few MiB queue up in the stream so that reading the next files overlaps with the
    // consumer's work; waiting for 'drain' after every write would serialize the two.
    if (this.stream.writableLength <= this.maxQueuedBytes) return;
    const ac = new AbortController();
    const poll = setInterval(() => {
      if (this.brokenReason()) ac.abort();
    }, 200);
    try {
      await once(this.stream, 'drain', { signal: ac.signal });
    } catch (error) {
      throw this.brokenReason() ?? error;
    } finally {
      clearInterval(poll);
    }
  }

  async end(): Promise<void> {
    await this.flush();
    const broken = this.brokenReason();
    if (broken) throw broken;
    await new Promise<void>((resolve) => this.stream.end(resolve));
  }
}
