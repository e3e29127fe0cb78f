import fs from 'node:fs';
import path from 'node:path';

/**
 * Directories that are never a storage path, matched exactly after resolving symlinks: a typo
 * there would archive, upload or (rollback) move aside a whole system tree as root. Paths below
 * them stay allowed: the runbook's `/root/dify/app/api/storage` and k3s volumes under `/var`.
 */
const SYSTEM_DIRECTORIES = new Set([
  '/',
  '/root',
  '/etc',
  '/usr',
  '/var',
  '/home',
  '/boot',
  '/proc',
  '/sys',
  '/dev',
  '/bin',
  '/sbin',
  '/opt',
  '/srv',
  '/tmp',
]);

function isSystemDirectory(p: string): boolean {
  return SYSTEM_DIRECTORIES.has(p) || /^\/lib[^/]*$/.test(p);
}

/**
 * Why `storagePath` cannot be a storage path, or undefined when it can. Resolves symlinks first
 * (a link to `/etc` is `/etc`); a path that does not exist yet is judged as written.
 */
export function storagePathRefusal(storagePath: string): string | undefined {
  if (!path.isAbsolute(storagePath)) return `must be an absolute path; got '${storagePath}'`;
  const lexical = path.resolve(storagePath);
  let real = lexical;
  try {
    real = fs.realpathSync.native(lexical);
  } catch {
    // Missing (checked later, with a clearer message) or unreadable: judge the path as written.
  }
  if (!isSystemDirectory(real) && !isSystemDirectory(lexical)) return undefined;
  const via = real === lexical ? '' : ` (resolves to ${real})`;
  return (
    `'${storagePath}'${via} is a system directory, never a storage path (refused: /, /root, ` +
    `/etc, /usr, /var, /home, /boot, /proc, /sys, /dev, /bin, /sbin, /lib*, /opt, /srv, /tmp ` +
    `themselves; directories below them are fine)`
  );
}

/** The same path after resolving symlinks (for comparing two spellings of one directory). */
export function realPathOrSelf(p: string): string {
  try {
    return fs.realpathSync.native(path.resolve(p));
  } catch {
    return path.resolve(p);
  }
}

/**
 * Whether `dir` is `root` or lies below it, as written or with symlinks resolved (either way
 * counts): a state directory there could be written by a Dify pod. A path that does not exist
 * yet is resolved through its deepest existing ancestor.
 */
export function isWithin(dir: string, root: string): boolean {
  const below = (d: string, r: string): boolean => {
    const rel = path.relative(r, d);
    return !(rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
  };
  const lexical = [path.resolve(dir), path.resolve(root)] as const;
  return below(...lexical) || below(realPathOfPrefix(dir), realPathOfPrefix(root));
}

/** realpath of the deepest existing ancestor of `p`, with the rest of `p` appended. */
function realPathOfPrefix(p: string): string {
  let head = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(head), ...rest);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return path.resolve(p);
      rest.unshift(path.basename(head));
      head = parent;
    }
  }
}
