import { createHash, randomUUID } from 'node:crypto';
import type { DifyConfig } from './config.js';
import { HttpError } from './context.js';
import { naiveUtc, unixSeconds } from './db.js';
import {
  AUDIO_EXTENSIONS,
  DOCUMENT_EXTENSIONS,
  IMAGE_EXTENSIONS,
  VIDEO_EXTENSIONS,
  guessExtension,
  toolFileKey,
  uploadExtension,
  uploadFileKey,
} from './keys.js';
import type { Db } from './schema.js';
import { signedFilePreviewUrl } from './signing.js';
import type { Storage } from './storage/index.js';

export interface UploadFileRow {
  id: string;
  tenant_id: string;
  storage_type: string;
  key: string;
  name: string;
  size: number;
  extension: string;
  mime_type: string | null;
  created_by_role: string;
  created_by: string;
  created_at: Date;
  used: boolean;
  used_by: string | null;
  used_at: Date | null;
  hash: string | null;
  source_url: string;
}

export interface Uploader {
  id: string;
  tenantId: string;
  role: 'account' | 'end_user';
}

const INVALID_NAME_CHARS = ['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

function sizeLimitBytes(cfg: DifyConfig, extension: string): number {
  const mb = IMAGE_EXTENSIONS.includes(extension)
    ? cfg.uploadImageFileSizeLimitMb
    : VIDEO_EXTENSIONS.includes(extension)
      ? cfg.uploadVideoFileSizeLimitMb
      : AUDIO_EXTENSIONS.includes(extension)
        ? cfg.uploadAudioFileSizeLimitMb
        : cfg.uploadFileSizeLimitMb;
  return mb * 1024 * 1024;
}

/**
 * FileService.upload_file: validates, saves `upload_files/{tenant}/{uuid}.{ext}` through the
 * storage, records the row with `storage_type = STORAGE_TYPE` and the sha3-256 of the content,
 * then stores a signed preview URL in `source_url`.
 */
export async function uploadFile(
  cfg: DifyConfig,
  db: Db,
  storage: Storage,
  input: {
    filename: string;
    content: Buffer;
    mimetype: string;
    user: Uploader;
    source?: 'datasets';
  },
): Promise<UploadFileRow> {
  let filename = input.filename;
  const extension = uploadExtension(filename);
  if (INVALID_NAME_CHARS.some((c) => filename.includes(c))) {
    throw new HttpError(400, 'invalid_param', 'Filename contains invalid characters');
  }
  if (filename.length > 200) filename = `${filename.split('.')[0]!.slice(0, 200)}.${extension}`;
  if (input.source === 'datasets' && !DOCUMENT_EXTENSIONS.includes(extension)) {
    throw new HttpError(415, 'unsupported_file_type', 'File type not allowed.');
  }
  const size = input.content.length;
  const limit = sizeLimitBytes(cfg, extension);
  if (size > limit) {
    throw new HttpError(
      413,
      'file_too_large',
      `File size exceeded. ${(size / 1024 / 1024).toFixed(2)} > ${limit / 1024 / 1024}`,
    );
  }
  const id = randomUUID();
  const key = uploadFileKey(input.user.tenantId, randomUUID(), extension);
  await storage.save(key, input.content);
  const hash = createHash('sha3-256').update(input.content).digest('hex');
  const { rows } = await db.query<UploadFileRow>(
    `INSERT INTO upload_files (id, tenant_id, storage_type, key, name, size, extension, mime_type,
       created_by_role, created_by, created_at, used, hash, source_url)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, false, $12, '') RETURNING *`,
    [
      id,
      input.user.tenantId,
      cfg.storageType,
      key,
      filename,
      size,
      extension,
      input.mimetype,
      input.user.role,
      input.user.id,
      naiveUtc(),
      hash,
    ],
  );
  const row = rows[0]!;
  row.source_url = signedFilePreviewUrl(cfg.filesUrl, cfg.secretKey, id);
  await db.query(`UPDATE upload_files SET source_url = $2 WHERE id = $1`, [id, row.source_url]);
  return row;
}

/**
 * FileService.upload_text (services/file_service.py:116-146), behind create-by-text: the text
 * saved UTF-8 encoded at `upload_files/{tenant}/{uuid4}.txt`, and a row whose `size` is
 * `len(text)` — code points, not bytes — with no hash, `used` already set and no source URL.
 */
export async function uploadText(
  cfg: DifyConfig,
  db: Db,
  storage: Storage,
  input: { text: string; name: string; user: { id: string; tenantId: string } },
): Promise<UploadFileRow> {
  const name = [...input.name].slice(0, 200).join('');
  const key = uploadFileKey(input.user.tenantId, randomUUID(), 'txt');
  await storage.save(key, Buffer.from(input.text, 'utf8'));
  const now = naiveUtc();
  const { rows } = await db.query<UploadFileRow>(
    `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, mime_type,
       created_by_role, created_by, created_at, used, used_by, used_at)
     VALUES ($1, $2, $3, $4, $5, 'txt', 'text/plain', 'account', $6, $7, true, $6, $7) RETURNING *`,
    [input.user.tenantId, cfg.storageType, key, name, [...input.text].length, input.user.id, now],
  );
  return rows[0]!;
}

/** `fields/file_fields.py` `file_fields`. */
export function fileFields(row: UploadFileRow): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    size: row.size,
    extension: row.extension,
    mime_type: row.mime_type,
    created_by: row.created_by,
    created_at: unixSeconds(row.created_at),
    preview_url: null,
  };
}

export interface ToolFileRow {
  id: string;
  user_id: string;
  tenant_id: string;
  conversation_id: string | null;
  file_key: string;
  mimetype: string;
  original_url: string | null;
  name: string;
  size: number;
}

/** ToolFileManager.create_file_by_raw: `tools/{tenant}/{uuid4hex}{.ext}` plus a tool_files row. */
export async function createToolFile(
  db: Db,
  storage: Storage,
  input: {
    userId: string;
    tenantId: string;
    content: Buffer;
    mimetype: string;
    conversationId?: string;
  },
): Promise<ToolFileRow> {
  const extension = guessExtension(input.mimetype) ?? '.bin';
  const hexName = randomUUID().replace(/-/g, '');
  const key = toolFileKey(input.tenantId, hexName, extension);
  await storage.save(key, input.content);
  const { rows } = await db.query<ToolFileRow>(
    `INSERT INTO tool_files (id, user_id, tenant_id, conversation_id, file_key, mimetype, name, size)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [
      randomUUID(),
      input.userId,
      input.tenantId,
      input.conversationId ?? null,
      key,
      input.mimetype,
      `${hexName}${extension}`,
      input.content.length,
    ],
  );
  return rows[0]!;
}
