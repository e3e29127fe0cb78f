import type { DifyContext } from '../context.js';
import { log } from '../log.js';

const IMAGE_REF = /\/files\/([0-9a-f-]{36})\/(?:file|image)-preview/g;

/**
 * tasks/clean_document_task.py: deletes the document's segments (and the docx images their
 * markdown references), then the upload file's object and row. Storage errors are logged, not
 * raised, as in Dify.
 */
export async function cleanDocumentTask(
  ctx: DifyContext,
  documentId: string,
  datasetId: string,
  _docForm: string | null,
  fileId: string | null,
): Promise<void> {
  const started = Date.now();
  log(
    'INFO',
    'clean_document_task.py:27',
    `Start clean document when document deleted: ${documentId}`,
  );
  const { rows: segments } = await ctx.db.query<{ content: string }>(
    `SELECT content FROM document_segments WHERE document_id = $1 AND dataset_id = $2`,
    [documentId, datasetId],
  );
  const imageIds = new Set<string>();
  for (const s of segments) for (const m of s.content.matchAll(IMAGE_REF)) imageIds.add(m[1]!);
  for (const id of imageIds) await deleteUploadFile(ctx, id);
  await ctx.db.query(`DELETE FROM document_segments WHERE document_id = $1`, [documentId]);
  if (fileId) await deleteUploadFile(ctx, fileId);
  log(
    'INFO',
    'clean_document_task.py:75',
    `Cleaned document when document deleted: ${documentId} latency: ${((Date.now() - started) / 1000).toFixed(6)}`,
  );
}

async function deleteUploadFile(ctx: DifyContext, id: string): Promise<void> {
  const { rows } = await ctx.db.query<{ key: string }>(
    `SELECT key FROM upload_files WHERE id = $1`,
    [id],
  );
  if (!rows[0]) return;
  try {
    await ctx.storage.delete(rows[0].key);
  } catch (err) {
    log(
      'ERROR',
      'clean_document_task.py:66',
      `Delete file failed when document deleted, file_id: ${id}: ${String(err)}`,
    );
  }
  await ctx.db.query(`DELETE FROM upload_files WHERE id = $1`, [id]);
}
