import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileNotFoundError } from '../log.js';
import type { BaseStorage } from './base.js';

/**
 * OpenDAL's `fs` service as Dify 1.3.0 drives it (api/extensions/storage/opendal_storage.py):
 * the key is the path under `root`, reads check `exists()` first and raise
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
    // OpenDAL normalises the path (`//` collapses, a leading `/` is relative to root).
    const rel = key.split('/').filter((p) => p !== '' && p !== '.');
    if (rel.includes('..')) throw new Error(`invalid path: ${key}`);
    return path.join(this.root, ...rel);
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
