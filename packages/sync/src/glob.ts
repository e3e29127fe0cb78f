/**
 * Exclude patterns (rsync/rclone-like): `*` matches within one path segment, `**` across
 * segments, `?` one character, `[abc]` a class. A pattern without `/` matches the base name at any
 * depth; a pattern with `/` is anchored at the root. A trailing `/` matches a directory and
 * everything under it.
 */
export type KeyMatcher = (relPath: string, isDir: boolean) => boolean;

function globToRegex(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return re;
}

export function compileExcludes(patterns: readonly string[] | undefined): KeyMatcher | undefined {
  const list = (patterns ?? []).map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith('#'));
  if (list.length === 0) return undefined;
  const fileRes: RegExp[] = [];
  const dirRes: RegExp[] = [];
  for (const raw of list) {
    const dirOnly = raw.endsWith('/');
    const p = raw.replace(/\/+$/, '');
    const anchored = p.includes('/');
    const body = globToRegex(p.replace(/^\//, ''));
    const re = new RegExp(anchored ? `^${body}$` : `(?:^|/)${body}$`, 's');
    dirRes.push(re);
    if (!dirOnly) fileRes.push(re);
  }
  return (rel, isDir) => (isDir ? dirRes : fileRes).some((re) => re.test(rel));
}

/** For keys (no walk): excluded when the path or any of its parent directories matches. */
export function excludesKey(m: KeyMatcher | undefined, rel: string): boolean {
  if (!m) return false;
  if (m(rel, false)) return true;
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) {
    if (m(rel.slice(0, i), true)) return true;
  }
  return false;
}
