/**
 * The order of entries in an archive and its manifest: a depth-first walk with the names of each
 * directory sorted by UTF-16 code unit. As a comparison of whole relative paths this is
 * "compare component by component", which is plain string comparison with '/' ranked below
 * every other character. Verification relies on it to merge the archive with the manifest
 * without holding either in memory, and the sync engine to join a manifest with a listing.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca === 47) return -1;
    if (cb === 47) return 1;
    return ca - cb;
  }
  return a.length - b.length;
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
