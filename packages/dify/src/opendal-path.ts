/**
 * Characters Rust's `str::trim` removes: the Unicode `White_Space` property. Not JavaScript's
 * `\s` (which adds U+FEFF and lacks U+0085), not Python's `str.strip` (which adds U+001C–U+001F).
 */
const WHITE_SPACE =
  '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SURROUNDING_WHITE_SPACE = new RegExp(`^[${WHITE_SPACE}]+|[${WHITE_SPACE}]+$`, 'gu');

/**
 * The path OpenDAL's `fs` service uses for a storage key, relative to its root: Dify 1.3.0 on
 * `STORAGE_TYPE=opendal` passes the key unchanged to the operator (api/extensions/storage/
 * opendal_storage.py:43-82), and every blocking call normalizes it first (apache/opendal v0.53.0
 * core/src/raw/path.rs:96-120 `normalize_path`): the whole key is trimmed of surrounding
 * white space, all leading `/` are dropped, empty segments vanish (`//` → `/`), a trailing `/`
 * is kept (a directory), and an empty result is `/`. `.` and `..` are not resolved.
 * boto3 on `STORAGE_TYPE=s3` uses the key verbatim (aws_s3_storage.py:52-87), so a key whose
 * normalized form differs from itself lives at one path on disk and another key in the bucket.
 */
export function normalizeFsPath(key: string): string {
  const trimmed = key.replace(SURROUNDING_WHITE_SPACE, '').replace(/^\/+/, '');
  if (trimmed === '') return '/';
  const joined = trimmed
    .split('/')
    .filter((segment) => segment !== '')
    .join('/');
  return trimmed.endsWith('/') ? `${joined}/` : joined;
}

/**
 * Whether Dify on OpenDAL `fs` can hold a file at this key at all: a normalized path that ends in
 * `/` is a directory there, and write/read fail with IsADirectory (opendal v0.53.0
 * core/src/types/operator/blocking_operator.rs:380-386,624-630); `.`/`..` segments would leave
 * the key's own place in the tree, so no file of the tree can be its source.
 */
export function isFsFilePath(fsPath: string): boolean {
  return !fsPath.endsWith('/') && !fsPath.split('/').some((s) => s === '.' || s === '..');
}
