import { constants } from 'node:fs';
import { access, open, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { BackupError, errnoCode } from './errors.js';

/**
 * The real path of `path` even when its tail does not exist yet: the nearest existing ancestor
 * is resolved (symlinks included) and the missing part appended.
 */
export async function resolveMaybeMissing(
  path: string,
): Promise<{ real: string; existing: string }> {
  let current = resolve(path);
  const missing: string[] = [];
  for (;;) {
    try {
      const real = await realpath(current);
      return { real: missing.length ? join(real, ...missing.reverse()) : real, existing: real };
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      const parent = dirname(current);
      if (parent === current) throw error;
      missing.push(current.slice(parent.length).replace(/^[/\\]+/, ''));
      current = parent;
    }
  }
}

/** True when `child` is `parent` itself or lies below it (both absolute, resolved). */
export function isSameOrInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Checks that `dir` is an existing, listable directory; returns its real path. */
export async function assertReadableDir(dir: string, label: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (error) {
    const code = errnoCode(error);
    throw new BackupError(
      code === 'ENOENT'
        ? `The ${label} ${dir} does not exist (is this runner on the node that holds it, and is it mounted?).`
        : `The ${label} ${dir} cannot be resolved: ${(error as Error).message}`,
    );
  }
  const st = await stat(real);
  if (!st.isDirectory()) throw new BackupError(`The ${label} ${dir} is not a directory.`);
  try {
    await access(real, constants.R_OK | constants.X_OK);
  } catch {
    throw new BackupError(
      `The ${label} ${dir} is not readable by this process (uid ${process.getuid?.()}).`,
    );
  }
  return real;
}

/** fsync a directory so that renames inside it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
