import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { BackupError, errnoCode } from './errors.js';
import { TarScanner, parsePaxTimeNs, type EntryHeader, type ScannedEntry } from './tar-scan.js';
import { spawnZstd, type ZstdProcess } from './zstd.js';

export interface ArchiveEntry extends EntryHeader {
  /** The content; the callback must consume it (or resume it) before returning. */
  content: EntryContent;
}

/** The entry's content stream (a streamx Readable). */
export interface EntryContent extends AsyncIterable<Uint8Array> {
  resume(): unknown;
}

export interface ArchiveReadResult {
  /** Size and sha256 of the compressed archive file, computed while it was read. */
  bytes: number;
  sha256: string;
}

/** Thrown by readArchive when zstd or the tar parser rejects the archive itself. */
export class ArchiveUnreadableError extends BackupError {
  override readonly name = 'ArchiveUnreadableError';
}

/** `zstd -d` of the archive file, fed by a read that hashes the compressed bytes on the way. */
interface Decompression {
  zstd: ZstdProcess;
  /** The read of the file into zstd. */
  feed: Promise<void>;
  result(): ArchiveReadResult;
}

function decompress(archivePath: string): Decompression {
  const hash = createHash('sha256');
  let bytes = 0;
  const zstd = spawnZstd(['-d', '-c', '-q'], `decompress ${archivePath}`);
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const feed = pipeline(
    createReadStream(archivePath, { highWaterMark: 1 << 20 }),
    hashing,
    zstd.stdin,
  );
  feed.catch(() => {});
  return { zstd, feed, result: () => ({ bytes, sha256: hash.digest('hex') }) };
}

/**
 * Waits for zstd and the read, then throws what stopped the read, most telling first: a
 * refusal or write error of the caller, a read error, zstd's own error (a damaged archive), a
 * damaged tar stream.
 */
async function settle(
  d: Decompression,
  archivePath: string,
  callbackError: unknown,
  parseError: unknown,
): Promise<ArchiveReadResult> {
  if (callbackError || parseError) d.zstd.kill();
  const [zstdResult, feedResult] = await Promise.allSettled([d.zstd.exited, d.feed]);
  if (callbackError && !(callbackError instanceof ArchiveUnreadableError)) throw callbackError;
  if (feedResult.status === 'rejected' && !isBrokenPipe(feedResult.reason)) {
    throw new BackupError(
      `Cannot read the archive ${archivePath}: ${(feedResult.reason as Error).message}`,
    );
  }
  if (zstdResult.status === 'rejected') {
    throw new ArchiveUnreadableError((zstdResult.reason as Error).message);
  }
  if (callbackError) throw callbackError;
  if (parseError) {
    throw new ArchiveUnreadableError(
      `The tar stream inside ${archivePath} is damaged: ${(parseError as Error).message}`,
    );
  }
  return d.result();
}

/**
 * Streams a .tar.zst: the file is read once, hashed, fed to `zstd -dc`, and the tar stream is
 * parsed entry by entry (tar-stream). `onEntry` errors stop the read and are rethrown as they are.
 */
export async function readArchive(
  archivePath: string,
  onEntry: (entry: ArchiveEntry) => Promise<void>,
): Promise<ArchiveReadResult> {
  const d = decompress(archivePath);
  const extract = tarStream.extract();
  d.zstd.stdout!.pipe(extract);

  let callbackError: unknown = null;
  let parseError: unknown = null;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      try {
        await onEntry({
          path: (h.name ?? '').replace(/\/+$/, ''),
          type: h.type ?? 'file',
          size: h.size ?? 0,
          mode: (h.mode ?? 0) & 0o7777,
          uid: h.uid ?? 0,
          gid: h.gid ?? 0,
          mtimeNs: headerMtimeNs(h),
          content: guardedContent(entry as unknown as EntryContent, archivePath),
        });
      } catch (error) {
        callbackError = error;
        break;
      }
      entry.resume();
    }
  } catch (error) {
    parseError = error;
  }
  return settle(d, archivePath, callbackError, parseError);
}

/**
 * Like readArchive, for a verification: the same `zstd -d`, but the tar stream is parsed by
 * TarScanner, which hands over each entry with its content already hashed (sha256). About half
 * the CPU of tar-stream's per-entry streams on many small files (docs/performance.md).
 */
export async function scanArchive(
  archivePath: string,
  onEntry: (entry: ScannedEntry) => Promise<void>,
): Promise<ArchiveReadResult> {
  const d = decompress(archivePath);
  const scanner = new TarScanner();
  let callbackError: unknown = null;
  let parseError: unknown = null;
  try {
    outer: for await (const chunk of d.zstd.stdout! as AsyncIterable<Buffer>) {
      for (const entry of scanner.push(chunk)) {
        try {
          await onEntry(entry);
        } catch (error) {
          callbackError = error;
          break outer;
        }
      }
    }
    if (!callbackError) scanner.end();
  } catch (error) {
    parseError = error;
  }
  return settle(d, archivePath, callbackError, parseError);
}

/** Errors of an entry's stream come from a damaged archive: say so, whoever reads it. */
function guardedContent(entry: EntryContent, archivePath: string): EntryContent {
  return {
    resume: () => entry.resume(),
    async *[Symbol.asyncIterator]() {
      try {
        for await (const chunk of entry) yield chunk;
      } catch (error) {
        throw new ArchiveUnreadableError(
          `The tar stream inside ${archivePath} is damaged: ${(error as Error).message}`,
        );
      }
    },
  };
}

function isBrokenPipe(error: unknown): boolean {
  const code = errnoCode(error);
  return (
    code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED'
  );
}

type HeaderWithPax = Pick<tarStream.Header, 'mtime'> & { pax?: unknown };

function headerMtimeNs(h: HeaderWithPax): bigint {
  const pax = (h.pax as Record<string, string> | null | undefined)?.mtime;
  if (pax && /^-?\d+(\.\d+)?$/.test(pax)) return parsePaxTimeNs(pax);
  return BigInt(h.mtime ? h.mtime.getTime() : 0) * 1_000_000n;
}
