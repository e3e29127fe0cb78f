import { createHmac, randomBytes } from 'node:crypto';

/**
 * A signed file-preview URL exactly as Dify 1.3.0 builds it (core/file/helpers.py): HMAC-SHA256
 * with SECRET_KEY over `file-preview|{id}|{timestamp}|{nonce}`, URL-safe base64 with its `=`
 * padding kept (so it must be URL-encoded). Valid for FILES_ACCESS_TIMEOUT (300 s by default).
 */
export function signedFilePreviewUrl(
  baseUrl: string,
  fileId: string,
  secretKey: string,
  { timestamp = Math.floor(Date.now() / 1000), nonce = randomBytes(16).toString('hex') } = {},
): string {
  const message = `file-preview|${fileId}|${timestamp}|${nonce}`;
  const sign = createHmac('sha256', secretKey).update(message).digest('base64url');
  const padded = sign + '='.repeat((4 - (sign.length % 4)) % 4);
  const url = new URL(`files/${encodeURIComponent(fileId)}/file-preview`, withSlash(baseUrl));
  url.searchParams.set('timestamp', String(timestamp));
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('sign', padded);
  return url.toString();
}

export function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
