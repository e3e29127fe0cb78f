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
 * `file`, so a reader never sees half of it. A symlink or other non-file already at `file` is
 * refused rather than replaced: it was planted, and the operator should know.
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const existing = await fsp.lstat(file).catch(() => undefined);
  if (existing && !existing.isFile()) {
    const what = existing.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
    throw new UnsafePathError(
      `Refusing to write ${file}: it is ${what}; remove it or choose another path.`,
    );
  }
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await fsp.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (error) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw error;
  }
}

/** A JSON report or record, written as writeFileAtomic does (2-space indent, final newline). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}
