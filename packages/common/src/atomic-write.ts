import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** A report or journal path that is not a regular file (a planted symlink): exit 2. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  /** Read by the exit-code classifier (action-kit errors.ts): a usage error. */
  readonly outcome = 'usage' as const;
}

/**
 * Writes a report or journal: to a fresh temporary name (O_EXCL|O_NOFOLLOW, mode 0600: never
 * through a symlink someone planted, never into a file they opened first), then renamed over
 * `file` (fsynced first, its directory after), so a reader never sees half of it, nor a power
 * loss an empty one. A symlink or other non-file already at `file` is refused rather than
 * replaced: it was planted, and the operator should know.
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const out = await AtomicFileWriter.open(file);
  try {
    out.write(data);
  } catch (error) {
    await out.abort();
    throw error;
  }
  await out.commit(); // removes the temporary file itself if it fails
}

/**
 * A file written as writeFileAtomic writes one, in pieces as they come: for a list that must not
 * be held in memory whole (the keys a rollback copied back). Nothing is at `file` until `commit`.
 */
export class AtomicFileWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** The first write error: the file is then unusable, every later call throws it. */
  private failed: unknown;

  private constructor(
    private readonly file: string,
    private readonly tmp: string,
    private fd: number,
  ) {}

  /** The temporary names a writer of `file` uses (removed by a run after a kill). */
  static isTemporaryOf(file: string, name: string): boolean {
    const base = path.basename(file);
    return name.startsWith(`${base}.`) && /^[0-9a-f]{12}\.tmp$/.test(name.slice(base.length + 1));
  }

  static async open(file: string): Promise<AtomicFileWriter> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const existing = await fsp.lstat(file).catch(() => undefined);
    if (existing && !existing.isFile()) {
      const what = existing.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
      throw new UnsafePathError(
        `Refusing to write ${file}: it is ${what}; remove it or choose another path.`,
      );
    }
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    return new AtomicFileWriter(file, tmp, fs.openSync(tmp, TMP_FLAGS, 0o600));
  }

  /** Appends; text is written in blocks of 64 KiB. */
  write(data: string | Buffer): void {
    if (this.failed !== undefined) throw this.failed;
    if (typeof data === 'string') {
      this.pending.push(data);
      this.pendingBytes += data.length;
      if (this.pendingBytes >= 1 << 16) this.flush();
      return;
    }
    this.flush();
    this.writeOut(data);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.writeOut(Buffer.from(text));
  }

  private writeOut(buf: Buffer): void {
    try {
      for (let off = 0; off < buf.length;) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    } catch (error) {
      this.failed = error;
      throw error;
    }
  }

  /**
   * Puts the file in place, durably (fsynced, renamed over `file`, its directory fsynced); on any
   * error nothing is left behind.
   */
  async commit(): Promise<void> {
    try {
      if (this.failed !== undefined) throw this.failed;
      this.flush();
      const fd = this.fd;
      this.fd = -1; // closed once, even if the close fails
      try {
        fs.fsyncSync(fd); // durable before it replaces the older file: a state file resumes runs
      } finally {
        fs.closeSync(fd);
      }
      await fsp.rename(this.tmp, this.file);
      syncDirectory(path.dirname(this.file));
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Removes what was written; `file` is left as it was. */
  async abort(): Promise<void> {
    const fd = this.fd;
    this.fd = -1;
    try {
      if (fd >= 0) fs.closeSync(fd);
    } finally {
      await fsp.unlink(this.tmp).catch(() => undefined);
    }
  }
}

const TMP_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/** Makes a rename in `dir` durable; a file system that cannot fsync a directory is let be. */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // EINVAL on some file systems: the rename stands, only its durability is the system's.
  } finally {
    fs.closeSync(fd);
  }
}

/** A JSON report or record, written as writeFileAtomic does (2-space indent, final newline). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}
