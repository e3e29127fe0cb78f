import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { BackupError } from './errors.js';
import type { SkipReason } from './walk.js';

/**
 * The manifest is NDJSON, one record per line, in archive order (see comparePaths). Numbers that
 * can exceed 2^53 (nanosecond mtimes) are decimal strings; modes are 4-digit octal strings.
 */
export interface ManifestFile {
  type: 'file';
  path: string;
  size: number;
  /** Nanoseconds since the epoch, as a decimal string. */
  mtimeNs: string;
  /** Permission bits as octal, e.g. "0644". */
  mode: string;
  uid: number;
  gid: number;
  sha256: string;
  /** The file's size or mtime changed while it was read; the archived bytes are what was read. */
  changedDuringBackup?: true;
}

export interface ManifestDir {
  type: 'dir';
  path: string;
  mtimeNs: string;
  mode: string;
  uid: number;
  gid: number;
}

/** An entry of the storage tree deliberately left out of the archive. */
export interface ManifestSkipped {
  type: 'skipped';
  path: string;
  reason: SkipReason;
}

export type ManifestRecord = ManifestFile | ManifestDir | ManifestSkipped;

export function formatMode(mode: number | bigint): string {
  return (Number(mode) & 0o7777).toString(8).padStart(4, '0');
}

export function parseMode(mode: string): number {
  return parseInt(mode, 8);
}

export function manifestLine(record: ManifestRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/**
 * One line of a `sha256sum -c` checksum file. Like GNU coreutils, a name holding a backslash,
 * newline or carriage return is escaped (`\\`, `\n`, `\r`) and the line starts with a backslash.
 */
export function sha256sumLine(sha256: string, path: string): string {
  if (!/[\\\n\r]/.test(path)) return `${sha256}  ${path}\n`;
  const escaped = path.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `\\${sha256}  ${escaped}\n`;
}

/** Streams a manifest's records and hashes the file as it goes (sha256 and size once done). */
export class ManifestReader {
  sha256: string | null = null;
  bytes = 0;

  constructor(readonly path: string) {}

  async *records(): AsyncGenerator<ManifestRecord> {
    const hash = createHash('sha256');
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let lineNo = 0;
    const stream = createReadStream(this.path, { highWaterMark: 1 << 20 });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        this.bytes += chunk.length;
        pending += decoder.write(chunk);
        let start = 0;
        let nl: number;
        while ((nl = pending.indexOf('\n', start)) >= 0) {
          const line = pending.slice(start, nl);
          start = nl + 1;
          lineNo += 1;
          if (line.trim() !== '') yield parseLine(this.path, line, lineNo);
        }
        pending = pending.slice(start);
      }
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new BackupError(`Cannot read the manifest ${this.path}: ${(error as Error).message}`);
    } finally {
      stream.destroy();
    }
    pending += decoder.end();
    if (pending.trim() !== '') yield parseLine(this.path, pending, lineNo + 1);
    this.sha256 = hash.digest('hex');
  }
}

function parseLine(path: string, line: string, lineNo: number): ManifestRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new BackupError(`The manifest ${path} is damaged: line ${lineNo} is not JSON.`);
  }
  const r = value as Record<string, unknown> | null;
  const ok =
    typeof r === 'object' &&
    r !== null &&
    typeof r.path === 'string' &&
    (r.type === 'skipped' ||
      (r.type === 'dir' && typeof r.mtimeNs === 'string' && typeof r.mode === 'string') ||
      (r.type === 'file' &&
        typeof r.size === 'number' &&
        typeof r.sha256 === 'string' &&
        typeof r.mtimeNs === 'string' &&
        typeof r.mode === 'string'));
  if (!ok) {
    throw new BackupError(
      `The manifest ${path} is damaged: line ${lineNo} is not a file, dir or skipped record.`,
    );
  }
  return value as ManifestRecord;
}
