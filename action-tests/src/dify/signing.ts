import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The signature of core/file/helpers.py: URL-safe base64 (padding kept) of
 * HMAC-SHA256(SECRET_KEY, "file-preview|{id}|{timestamp}|{nonce}"). Tool files use the same
 * message prefix with the tool file id.
 */
export function fileSignature(
  secretKey: string,
  fileId: string,
  timestamp: string,
  nonce: string,
): string {
  const mac = createHmac('sha256', Buffer.from(secretKey, 'utf8'))
    .update(`file-preview|${fileId}|${timestamp}|${nonce}`)
    .digest('base64');
  return mac.replace(/\+/g, '-').replace(/\//g, '_');
}

export interface SignedParams {
  timestamp: string;
  nonce: string;
  sign: string;
}

export function signFileParams(
  secretKey: string,
  fileId: string,
  now = Date.now(),
  nonce = randomBytes(16).toString('hex'),
): SignedParams {
  const timestamp = String(Math.floor(now / 1000));
  return { timestamp, nonce, sign: fileSignature(secretKey, fileId, timestamp, nonce) };
}

/**
 * `get_signed_file_url`: `{FILES_URL}/files/{id}/file-preview?timestamp=…&nonce=…&sign=…`.
 * Like Dify the sign is not percent-encoded (its `=` padding survives query parsing).
 */
export function signedFilePreviewUrl(
  filesUrl: string,
  secretKey: string,
  fileId: string,
  now = Date.now(),
): string {
  const p = signFileParams(secretKey, fileId, now);
  return `${filesUrl}/files/${fileId}/file-preview?timestamp=${p.timestamp}&nonce=${p.nonce}&sign=${p.sign}`;
}

/** `{FILES_URL}/files/tools/{id}{.ext}?timestamp=…&nonce=…&sign=…` (tool_file_manager.py). */
export function signedToolFileUrl(
  filesUrl: string,
  secretKey: string,
  toolFileId: string,
  extension: string,
  now = Date.now(),
): string {
  const p = signFileParams(secretKey, toolFileId, now);
  return `${filesUrl}/files/tools/${toolFileId}${extension}?timestamp=${p.timestamp}&nonce=${p.nonce}&sign=${p.sign}`;
}

/** `verify_file_signature`: exact sign match, then `now - timestamp <= FILES_ACCESS_TIMEOUT`. */
export function verifyFileSignature(
  secretKey: string,
  accessTimeoutSeconds: number,
  fileId: string,
  p: SignedParams,
  now = Date.now(),
): boolean {
  const expected = Buffer.from(fileSignature(secretKey, fileId, p.timestamp, p.nonce));
  const given = Buffer.from(p.sign);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return false;
  if (!/^-?\d+$/.test(p.timestamp)) return false;
  return Math.floor(now / 1000) - Number(p.timestamp) <= accessTimeoutSeconds;
}
