/** Storage key formats and file-type tables of Dify 1.3.0 (services/file_service.py, constants). */

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'svg'];
export const VIDEO_EXTENSIONS = ['mp4', 'mov', 'mpeg', 'mpga'];
export const AUDIO_EXTENSIONS = ['mp3', 'm4a', 'wav', 'webm', 'amr'];
/** DOCUMENT_EXTENSIONS with ETL_TYPE=dify (case-sensitive lists plus upper-case copies). */
const DOC = ['txt', 'markdown', 'md', 'mdx', 'pdf', 'html', 'htm', 'xlsx', 'xls', 'docx', 'csv'];
export const DOCUMENT_EXTENSIONS = [...DOC, ...DOC.map((e) => e.toUpperCase())];

/** Extensions the emulated worker reads as text (everything else is decoded lossily). */
export const TEXT_EXTENSIONS = ['txt', 'markdown', 'md', 'mdx', 'html', 'htm', 'csv'];

/** Python's `os.path.splitext(name)[1]` (a leading-dot-only name has no extension). */
export function splitext(name: string): [string, string] {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || /^\.+$/.test(base.slice(0, dot + 1))) return [name, ''];
  const cut = name.length - (base.length - dot);
  return [name.slice(0, cut), name.slice(cut)];
}

/** `os.path.splitext(filename)[1].lstrip(".").lower()`. */
export function uploadExtension(filename: string): string {
  return splitext(filename)[1].replace(/^\.+/, '').toLowerCase();
}

/** `upload_files/{tenant_id}/{uuid4}.{ext}` — a name without extension yields a trailing dot. */
export function uploadFileKey(tenantId: string, fileUuid: string, extension: string): string {
  return `upload_files/${tenantId}/${fileUuid}.${extension}`;
}

/** `image_files/{tenant_id}/{uuid4}.{ext}`; ext from mimetypes.guess_extension keeps its dot (`..png`). */
export function imageFileKey(tenantId: string, fileUuid: string, extension: string): string {
  return `image_files/${tenantId}/${fileUuid}.${extension}`;
}

/** `tools/{tenant_id}/{uuid4().hex}{.ext}` (tool_file_manager.py). */
export function toolFileKey(tenantId: string, hexName: string, dottedExtension: string): string {
  return `tools/${tenantId}/${hexName}${dottedExtension}`;
}

/** `privkeys/{tenant_id}/private.pem` (libs/rsa.py). */
export function privkeyKey(tenantId: string): string {
  return `privkeys/${tenantId}/private.pem`;
}

/** `keyword_files/{tenant_id}/{dataset_id}.txt` (core/rag/datasource/keyword/jieba/jieba.py:140-143). */
export function keywordFileKey(tenantId: string, datasetId: string): string {
  return `keyword_files/${tenantId}/${datasetId}.txt`;
}

const MIME: Record<string, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  mdx: 'text/markdown',
  html: 'text/html',
  htm: 'text/html',
  csv: 'text/csv',
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  xls: 'application/vnd.ms-excel',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  mp3: 'audio/mpeg',
  wav: 'audio/x-wav',
  mp4: 'video/mp4',
  json: 'application/json',
  gz: 'application/gzip',
  zip: 'application/zip',
};

/** A `mimetypes.guess_type`-like lookup by extension (without dot). */
export function guessMimeType(extension: string): string | undefined {
  return MIME[extension.toLowerCase()];
}

/** `mimetypes.guess_extension(mime)` for the types tool files commonly carry. */
export function guessExtension(mime: string): string | undefined {
  const preferred: Record<string, string> = {
    'image/jpeg': '.jpg',
    'text/plain': '.txt',
    'text/markdown': '.md',
    'text/html': '.html',
  };
  if (preferred[mime]) return preferred[mime];
  const hit = Object.entries(MIME).find(([, m]) => m === mime);
  return hit ? `.${hit[0]}` : undefined;
}
