/**
 * Object keys: ordering identical to S3 listings (UTF-8 byte order) and the validation that keeps a
 * key from escaping a local root when it is turned back into a path.
 */

/** Maps a UTF-16 code unit so that plain `<` comparison gives code point (= UTF-8 byte) order. */
function fixup(c: number): number {
  if (c < 0xd800) return c;
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/** Compares two keys the way S3 sorts them (UTF-8 binary order). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

export const MAX_SEGMENT_BYTES = 255;
export const MAX_KEY_BYTES = 4096;

/**
 * Why a key can't be written under a local root, or undefined when it can. Rejects anything that
 * could leave the root or that a POSIX filesystem can't hold as a regular file.
 */
export function unsafeKeyReason(key: string): string | undefined {
  if (key.length === 0) return 'empty key';
  if (key.includes('\0')) return 'contains a NUL byte';
  if (key.includes('\\')) return 'contains a backslash';
  if (key.startsWith('/')) return 'absolute path';
  if (key.endsWith('/')) return 'directory marker (ends with /)';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  for (const segment of key.split('/')) {
    if (segment === '') return 'empty path segment (//)';
    if (segment === '.' || segment === '..') return `"${segment}" path segment`;
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
      return `path segment longer than ${MAX_SEGMENT_BYTES} bytes`;
    }
  }
  return undefined;
}

/** Joins an optional key prefix (`dir/` or ``) and a relative POSIX path. */
export function joinKey(prefix: string, rel: string): string {
  return prefix === '' ? rel : prefix.endsWith('/') ? prefix + rel : `${prefix}/${rel}`;
}

/** Normalizes a user-given key prefix: no leading slash, exactly one trailing slash (or empty). */
export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return p === '' ? '' : `${p}/`;
}

/** S3's limit on a key (UTF-8 bytes). */
export const MAX_S3_KEY_BYTES = 1024;

/**
 * Why S3 cannot hold an object under this exact key, or undefined when it can: empty, over
 * 1024 UTF-8 bytes, or a character XML 1.0 cannot carry (a listing could never return it).
 */
export function s3KeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'empty key';
  if (Buffer.byteLength(key) > MAX_S3_KEY_BYTES) return `longer than ${MAX_S3_KEY_BYTES} bytes`;
  if (hasXmlUnsafeChar(key)) return 'a control character S3 listings (XML 1.0) cannot carry';
  return undefined;
}

/**
 * True when the text holds a character XML 1.0 cannot carry: an object under such a key would
 * make every later ListObjects answer of its bucket unparsable.
 */
export function hasXmlUnsafeChar(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(text);
}
