import { chown, mkdir, readdir, rename, rmdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError, errnoCode } from './errors.js';
import { utcStamp } from './naming.js';

/**
 * Moves the content of `dir` to a new sibling `<dir>.pre-rollback-<UTC stamp>` and leaves `dir`
 * as an empty directory with its original mode and owner. Nothing is deleted or copied: renames
 * only. When `dir` itself cannot be renamed (a mount point, e.g. a hostPath volume), its entries
 * are renamed one by one into the sibling, which must be on the same file system.
 * Returns the path the content now lives at.
 */
export async function moveAside(dir: string, now: Date = new Date()): Promise<string> {
  const source = resolve(dir);
  let st;
  try {
    st = await stat(source);
  } catch (error) {
    throw new BackupError(`Cannot move ${source} aside: ${(error as Error).message}`);
  }
  if (!st.isDirectory())
    throw new BackupError(`Cannot move ${source} aside: it is not a directory.`);

  const stamp = utcStamp(now);
  let target = `${source}.pre-rollback-${stamp}`;
  for (let n = 2; await pathExists(target); n++) target = `${source}.pre-rollback-${stamp}-${n}`;

  try {
    await rename(source, target);
    await mkdir(source, { mode: st.mode & 0o7777 });
    await chown(source, st.uid, st.gid).catch(() => {});
    return target;
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'EBUSY' && code !== 'EXDEV' && code !== 'EPERM' && code !== 'EACCES') throw error;
  }

  // `dir` is probably a mount point: move its entries instead.
  await mkdir(target, { mode: 0o700 });
  const entries = await readdir(source);
  const moved: string[] = [];
  for (const name of entries) {
    try {
      await rename(join(source, name), join(target, name));
      moved.push(name);
    } catch (error) {
      if (moved.length === 0) await rmdir(target).catch(() => {});
      throw new BackupError(
        `Cannot move ${join(source, name)} aside to ${target}: ${(error as Error).message}. ` +
          (errnoCode(error) === 'EXDEV'
            ? `${source} is a mount point on another file system than its parent, so its content cannot be renamed next to it; restore into another directory instead. `
            : '') +
          (moved.length
            ? `${moved.length} entries were already moved to ${target}; nothing was deleted.`
            : 'Nothing was moved.'),
      );
    }
  }
  return target;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
