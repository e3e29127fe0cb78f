import { createHash } from 'node:crypto';

/** An S3 ETag without its quotes (as a header carries them, or XML-escaped in a listing). */
export function unquoteEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '');
}

/**
 * The ETag S3 gives a multipart object: md5 of the concatenated binary part md5s, then `-N`.
 * Single-part objects have the plain hex md5 of their bytes.
 */
export function multipartEtag(partMd5s: readonly Buffer[]): string {
  const h = createHash('md5');
  for (const md5 of partMd5s) h.update(md5);
  return `${h.digest('hex')}-${partMd5s.length}`;
}
