import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

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
