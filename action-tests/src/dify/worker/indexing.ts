import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DifyContext } from '../context.js';
import { naiveUtc } from '../db.js';
import { extractDocx } from '../docx.js';
import type { DocumentRow } from '../documents.js';
import type { UploadFileRow } from '../files.js';
import { splitext } from '../keys.js';
import { PythonError, log } from '../log.js';
import { segmentationRules, splitText } from './splitter.js';

async function setStatus(
  ctx: DifyContext,
  documentId: string,
  status: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const cols = Object.keys(extra);
  const sets = ['indexing_status = $2', ...cols.map((c, i) => `${c} = $${i + 3}`)];
  await ctx.db.query(`UPDATE documents SET ${sets.join(', ')} WHERE id = $1`, [
    documentId,
    status,
    ...cols.map((c) => extra[c]),
  ]);
}

/**
 * ExtractProcessor.extract for an upload file (extract_processor.py:96-157):
 * `storage.download(key, tmp/<name><suffix>)` into a temporary directory, then the extractor of
 * the lower-cased suffix: WordExtractor for `.docx` (which stores the document's images),
 * text for the rest (pdf, xlsx … are read as text here).
 */
async function extract(ctx: DifyContext, file: UploadFileRow): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tmp'));
  try {
    const suffix = splitext(file.key)[1];
    const target = path.join(dir, `${randomBytes(4).toString('hex')}${suffix}`);
    await ctx.storage.download(file.key, target);
    const content = await readFile(target);
    if (suffix.toLowerCase() !== '.docx') return content.toString('utf8');
    const deps = {
      db: ctx.db,
      storage: ctx.storage,
      storageType: ctx.config.storageType,
      filesUrl: ctx.config.filesUrl,
    };
    return (await extractDocx(deps, content, file)).text;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** helper.generate_text_hash. */
function textHash(text: string): string {
  return createHash('sha256').update(`${text}None`).digest('hex');
}

/** IndexingRunner.run for one document: extract → split → segments → completed (or error). */
async function indexDocument(ctx: DifyContext, doc: DocumentRow, technique: string): Promise<void> {
  const started = Date.now();
  try {
    const info = doc.data_source_info
      ? (JSON.parse(doc.data_source_info) as { upload_file_id?: string })
      : {};
    const { rows: files } = await ctx.db.query<UploadFileRow>(
      `SELECT * FROM upload_files WHERE id = $1`,
      [info.upload_file_id ?? null],
    );
    const file = files[0];
    if (!file) throw new PythonError('ValueError', 'no upload file found');
    const text = await extract(ctx, file);
    await setStatus(ctx, doc.id, 'splitting', {
      word_count: text.length,
      parsing_completed_at: naiveUtc(),
    });

    const { rows: ruleRows } = await ctx.db.query<{ mode: string; rules: string | null }>(
      `SELECT mode, rules FROM dataset_process_rules WHERE id = $1`,
      [doc.dataset_process_rule_id],
    );
    const rules = segmentationRules(ruleRows[0]?.mode ?? 'automatic', ruleRows[0]?.rules ?? null);
    const chunks = splitText(text, rules);
    const now = naiveUtc();
    const client = await ctx.db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`DELETE FROM document_segments WHERE document_id = $1`, [doc.id]);
      for (const [i, content] of chunks.entries()) {
        const tokens = technique === 'high_quality' ? Math.ceil(content.length / 4) : 0;
        await client.query(
          `INSERT INTO document_segments (id, tenant_id, dataset_id, document_id, position, content,
             word_count, tokens, index_node_id, index_node_hash, status, created_by, created_at,
             updated_at, indexing_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'indexing', $11, $12, $12, $12)`,
          [
            randomUUID(),
            doc.tenant_id,
            doc.dataset_id,
            doc.id,
            i + 1,
            content,
            content.length,
            tokens,
            randomUUID(),
            textHash(content),
            doc.created_by,
            now,
          ],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
    await setStatus(ctx, doc.id, 'indexing', {
      cleaning_completed_at: now,
      splitting_completed_at: now,
    });
    // _load: the "vector store" is this table; segments become completed and enabled.
    const done = naiveUtc();
    await ctx.db.query(
      `UPDATE document_segments SET status = 'completed', enabled = true, completed_at = $2
       WHERE document_id = $1`,
      [doc.id, done],
    );
    const { rows: tok } = await ctx.db.query<{ t: string }>(
      `SELECT COALESCE(SUM(tokens), 0) AS t FROM document_segments WHERE document_id = $1`,
      [doc.id],
    );
    await setStatus(ctx, doc.id, 'completed', {
      tokens: Number(tok[0]!.t),
      completed_at: done,
      indexing_latency: (Date.now() - started) / 1000,
      error: null,
      stopped_at: null,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const type = err instanceof PythonError ? err.pythonType : 'Exception';
    log('ERROR', 'indexing_runner.py:97', `consume document failed\n${type}: ${message}`);
    await setStatus(ctx, doc.id, 'error', { error: message, stopped_at: naiveUtc() });
  }
}

/** tasks/document_indexing_task.py `document_indexing_task(dataset_id, document_ids)`. */
export async function documentIndexingTask(
  ctx: DifyContext,
  datasetId: string,
  documentIds: string[],
): Promise<void> {
  const started = Date.now();
  const { rows: ds } = await ctx.db.query<{ indexing_technique: string | null }>(
    `SELECT indexing_technique FROM datasets WHERE id = $1`,
    [datasetId],
  );
  if (!ds[0]) {
    log('INFO', 'document_indexing_task.py:29', `Dataset is not found: ${datasetId}`);
    return;
  }
  const docs: DocumentRow[] = [];
  for (const id of documentIds) {
    log('INFO', 'document_indexing_task.py:56', `Start process document: ${id}`);
    const { rows } = await ctx.db.query<DocumentRow>(
      `UPDATE documents SET indexing_status = 'parsing', processing_started_at = $3
       WHERE id = $1 AND dataset_id = $2 RETURNING *`,
      [id, datasetId, naiveUtc()],
    );
    if (rows[0]) docs.push(rows[0]);
  }
  for (const doc of docs) await indexDocument(ctx, doc, ds[0].indexing_technique ?? 'economy');
  log(
    'INFO',
    'document_indexing_task.py:75',
    `Processed dataset: ${datasetId} latency: ${((Date.now() - started) / 1000).toFixed(6)}`,
  );
}
