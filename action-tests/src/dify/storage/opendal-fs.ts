import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileNotFoundError } from '../log.js';
import type { BaseStorage } from './base.js';

/** Rust `char::is_whitespace` (Unicode White_Space), which `str::trim` strips at both ends. */
function isRustWhitespace(c: string): boolean {
  const n = c.codePointAt(0)!;
  return (
    (n >= 0x09 && n <= 0x0d) ||
    n === 0x20 ||
    n === 0x85 ||
    n === 0xa0 ||
    n === 0x1680 ||
    (n >= 0x2000 && n <= 0x200a) ||
    n === 0x2028 ||
    n === 0x2029 ||
    n === 0x202f ||
    n === 0x205f ||
    n === 0x3000
  );
}

/**
 * opendal v0.53.0 core/src/raw/path.rs:96-120 `normalize_path`, which every blocking call Dify
 * makes applies first: `path.trim().trim_start_matches('/')`, empty → `/`, empty segments
 * dropped, a trailing `/` kept. `.` and `..` are left as they are.
 */
export function normalizePath(key: string): string {
  const chars = [...key];
  let start = 0;
  let end = chars.length;
  while (start < end && isRustWhitespace(chars[start]!)) start++;
  while (end > start && isRustWhitespace(chars[end - 1]!)) end--;
  while (start < end && chars[start] === '/') start++;
  const trimmed = chars.slice(start, end).join('');
  if (trimmed === '') return '/';
  const segments = trimmed.split('/').filter((segment) => segment.length > 0);
  return segments.join('/') + (trimmed.endsWith('/') ? '/' : '');
}

/**
 * OpenDAL's `fs` service as Dify 1.3.0 drives it (api/extensions/storage/opendal_storage.py):
 * the key, normalized, is the path under `root` (so `a.pdf ` is the file `a.pdf`), reads check `exists()` first and raise
 * `FileNotFoundError("File not found")`, delete of a missing key is a no-op.
 */
export class OpenDalFsStorage implements BaseStorage {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  /**
   * `root` relative to the process CWD, created like `Path(root).mkdir(parents=True)`; an
   * absolute root lives under `rootfs` when one is given (a simulated container).
   */
  static async create(root: string, cwd: string, rootfs?: string): Promise<OpenDalFsStorage> {
    const abs = path.isAbsolute(root) && rootfs ? path.join(rootfs, root) : path.resolve(cwd, root);
    await mkdir(abs, { recursive: true });
    return new OpenDalFsStorage(abs);
  }

  private pathOf(key: string): string {
    const normalized = normalizePath(key);
    // A trailing `/` names a directory: read and write fail with IsADirectory
    // (opendal v0.53.0 core/src/types/operator/blocking_operator.rs:380-386,624-630).
    if (normalized.endsWith('/')) throw new Error(`IsADirectory: ${key}`);
    // The fs backend joins root and path (core/src/services/fs/backend.rs:423-424).
    return path.join(this.root, normalized);
  }

  async save(key: string, data: Buffer): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  async loadOnce(key: string): Promise<Buffer> {
    if (!(await this.exists(key))) throw new FileNotFoundError('File not found');
    return readFile(this.pathOf(key));
  }

  async *loadStream(key: string): AsyncGenerator<Buffer, void, undefined> {
    if (!(await this.exists(key))) throw new FileNotFoundError('File not found');
    for await (const chunk of createReadStream(this.pathOf(key), { highWaterMark: 64 * 1024 })) {
      yield chunk as Buffer;
    }
  }

  async download(key: string, targetPath: string): Promise<void> {
    if (!(await this.exists(key))) throw new FileNotFoundError('File not found');
    await copyFile(this.pathOf(key), targetPath);
  }

  async delete(key: string): Promise<void> {
    if (await this.exists(key)) await rm(this.pathOf(key), { force: true });
  }

  close(): void {}
}
