import { randomInt, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HttpError } from './context.js';
import { naiveUtc, unixSeconds } from './db.js';
import type { UploadFileRow } from './files.js';
import { TASKS, delay } from './queue.js';
import type { Db } from './schema.js';

/** DatasetProcessRule.AUTOMATIC_RULES. */
export const AUTOMATIC_RULES = {
  pre_processing_rules: [
    { id: 'remove_extra_spaces', enabled: true },
    { id: 'remove_urls_emails', enabled: false },
  ],
  segmentation: { delimiter: '\n', max_tokens: 500, chunk_overlap: 50 },
};

export interface DocumentRow {
  id: string;
  tenant_id: string;
  dataset_id: string;
  position: number;
  data_source_type: string;
  data_source_info: string | null;
  dataset_process_rule_id: string | null;
  batch: string;
  name: string;
  created_from: string;
  created_by: string;
  created_at: Date;
  processing_started_at: Date | null;
  word_count: number | null;
  parsing_completed_at: Date | null;
  cleaning_completed_at: Date | null;
  splitting_completed_at: Date | null;
  tokens: number | null;
  completed_at: Date | null;
  is_paused: boolean | null;
  paused_at: Date | null;
  error: string | null;
  stopped_at: Date | null;
  indexing_status: string;
  enabled: boolean;
  disabled_at: Date | null;
  disabled_by: string | null;
  archived: boolean;
  doc_form: string;
  doc_metadata: unknown;
}

interface CreateArgs {
  indexing_technique?: string;
  process_rule?: { mode?: string; rules?: unknown };
  doc_form?: string;
  doc_language?: string;
  original_document_id?: string;
}

/** `time.strftime("%Y%m%d%H%M%S") + str(random.randint(100000, 999999))` (server local = UTC). */
function newBatch(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${randomInt(100000, 1000000)}`
  );
}

/** Parses and checks the `data` form field of create-by-file (KnowledgeConfig). */
export function parseCreateArgs(raw: string | undefined): CreateArgs {
  let args: CreateArgs = {};
  if (raw !== undefined) {
    try {
      args = JSON.parse(raw) as CreateArgs;
    } catch {
      throw new HttpError(400, 'invalid_param', 'data is not valid JSON');
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new HttpError(400, 'invalid_param', 'data must be a JSON object');
    }
  }
  if (
    args.indexing_technique !== undefined &&
    !['high_quality', 'economy'].includes(args.indexing_technique)
  ) {
    throw new HttpError(400, 'invalid_param', 'Invalid indexing technique.');
  }
  if (args.process_rule !== undefined) {
    const mode = args.process_rule.mode;
    if (!mode || !['automatic', 'custom', 'hierarchical'].includes(mode)) {
      throw new HttpError(400, 'invalid_param', 'Process rule mode is invalid');
    }
  }
  args.doc_form ??= 'text_model';
  args.doc_language ??= 'English';
  return args;
}

export interface DatasetRow {
  id: string;
  tenant_id: string;
  indexing_technique: string | null;
}

/**
 * DocumentService.save_document_with_dataset_id for one uploaded file: a process rule, a
 * `documents` row (`indexing_status='waiting'`, `data_source_info={"upload_file_id": …}`), then
 * `document_indexing_task.delay(dataset_id, [document_id])` onto the broker.
 */
export async function saveDocumentWithUploadFile(
  db: Db,
  broker: Redis,
  dataset: DatasetRow,
  accountId: string,
  file: UploadFileRow,
  args: CreateArgs,
): Promise<{ document: DocumentRow; batch: string }> {
  if (!dataset.indexing_technique) {
    await db.query(
      `UPDATE datasets SET indexing_technique = $2, data_source_type = 'upload_file' WHERE id = $1`,
      [dataset.id, args.indexing_technique],
    );
  }
  let ruleId: string | null = null;
  if (args.process_rule) {
    ruleId = randomUUID();
    const rules =
      args.process_rule.mode === 'automatic' ? AUTOMATIC_RULES : (args.process_rule.rules ?? {});
    await db.query(
      `INSERT INTO dataset_process_rules (id, dataset_id, mode, rules, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [ruleId, dataset.id, args.process_rule.mode, JSON.stringify(rules), accountId, naiveUtc()],
    );
  } else {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM dataset_process_rules WHERE dataset_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [dataset.id],
    );
    ruleId = rows[0]?.id ?? null;
  }
  const batch = newBatch();
  const { rows: pos } = await db.query<{ p: number }>(
    `SELECT COALESCE(MAX(position), 0) + 1 AS p FROM documents WHERE dataset_id = $1`,
    [dataset.id],
  );
  const now = naiveUtc();
  const { rows } = await db.query<DocumentRow>(
    `INSERT INTO documents (id, tenant_id, dataset_id, position, data_source_type, data_source_info,
       dataset_process_rule_id, batch, name, created_from, created_by, created_at, updated_at,
       indexing_status, doc_form, doc_language)
     VALUES ($1, $2, $3, $4, 'upload_file', $5, $6, $7, $8, 'api', $9, $10, $10, 'waiting', $11, $12)
     RETURNING *`,
    [
      randomUUID(),
      dataset.tenant_id,
      dataset.id,
      pos[0]!.p,
      JSON.stringify({ upload_file_id: file.id }).replace('":"', '": "'),
      ruleId,
      batch,
      file.name,
      accountId,
      now,
      args.doc_form,
      args.doc_language,
    ],
  );
  await db.query(`UPDATE upload_files SET used = true, used_by = $2, used_at = $3 WHERE id = $1`, [
    file.id,
    accountId,
    now,
  ]);
  const document = rows[0]!;
  await delay(broker, TASKS.documentIndexing, [dataset.id, [document.id]]);
  return { document, batch };
}

function displayStatus(d: DocumentRow): string {
  if (d.indexing_status === 'waiting') return 'queuing';
  if (['parsing', 'cleaning', 'splitting', 'indexing'].includes(d.indexing_status)) {
    return d.is_paused ? 'paused' : 'indexing';
  }
  if (d.indexing_status === 'error') return 'error';
  if (d.indexing_status === 'completed' && !d.archived && d.enabled) return 'available';
  if (d.indexing_status === 'completed' && !d.archived && !d.enabled) return 'disabled';
  if (d.indexing_status === 'completed' && d.archived) return 'archived';
  return d.indexing_status;
}

/** `fields/document_fields.py` `document_fields`. */
export function documentFields(d: DocumentRow, file?: UploadFileRow): Record<string, unknown> {
  const info = d.data_source_info
    ? (JSON.parse(d.data_source_info) as Record<string, unknown>)
    : null;
  return {
    id: d.id,
    position: d.position,
    data_source_type: d.data_source_type,
    data_source_info: info,
    data_source_detail_dict: file
      ? {
          upload_file: {
            id: file.id,
            name: file.name,
            size: file.size,
            extension: file.extension,
            mime_type: file.mime_type,
            created_by: file.created_by,
            created_at: unixSeconds(file.created_at),
          },
        }
      : {},
    dataset_process_rule_id: d.dataset_process_rule_id,
    name: d.name,
    created_from: d.created_from,
    created_by: d.created_by,
    created_at: unixSeconds(d.created_at),
    tokens: d.tokens,
    indexing_status: d.indexing_status,
    error: d.error,
    enabled: d.enabled,
    disabled_at: unixSeconds(d.disabled_at),
    disabled_by: d.disabled_by,
    archived: d.archived,
    display_status: displayStatus(d),
    word_count: d.word_count,
    hit_count: 0,
    doc_form: d.doc_form,
    doc_metadata: d.doc_metadata ?? [],
  };
}

/** DocumentIndexingStatusApi (service API): one entry per document of the batch. */
export async function indexingStatus(
  db: Db,
  tenantId: string,
  datasetId: string,
  batch: string,
): Promise<Record<string, unknown>[]> {
  const { rows: ds } = await db.query(`SELECT id FROM datasets WHERE id = $1 AND tenant_id = $2`, [
    datasetId,
    tenantId,
  ]);
  if (ds.length === 0) throw new HttpError(404, 'not_found', 'Dataset not found.');
  const { rows } = await db.query<
    DocumentRow & { completed_segments: string; total_segments: string }
  >(
    `SELECT d.*,
       (SELECT COUNT(*) FROM document_segments s WHERE s.document_id = d.id
          AND s.completed_at IS NOT NULL AND s.status <> 're_segment') AS completed_segments,
       (SELECT COUNT(*) FROM document_segments s WHERE s.document_id = d.id
          AND s.status <> 're_segment') AS total_segments
     FROM documents d WHERE d.dataset_id = $1 AND d.batch = $2 AND d.tenant_id = $3
     ORDER BY d.position`,
    [datasetId, batch, tenantId],
  );
  if (rows.length === 0) throw new HttpError(404, 'not_found', 'Documents not found.');
  return rows.map((d) => ({
    id: d.id,
    indexing_status: d.is_paused ? 'paused' : d.indexing_status,
    processing_started_at: unixSeconds(d.processing_started_at),
    parsing_completed_at: unixSeconds(d.parsing_completed_at),
    cleaning_completed_at: unixSeconds(d.cleaning_completed_at),
    splitting_completed_at: unixSeconds(d.splitting_completed_at),
    completed_at: unixSeconds(d.completed_at),
    paused_at: unixSeconds(d.paused_at),
    error: d.error,
    stopped_at: unixSeconds(d.stopped_at),
    completed_segments: Number(d.completed_segments),
    total_segments: Number(d.total_segments),
  }));
}

/**
 * DocumentService.delete_document: refuses while indexing, deletes the row and signals
 * `document_was_deleted`, whose handler queues `clean_document_task(document_id, dataset_id,
 * doc_form, file_id)`; the worker then deletes segments, the upload file's object and its row.
 */
export async function deleteDocument(
  db: Db,
  broker: Redis,
  tenantId: string,
  datasetId: string,
  documentId: string,
): Promise<void> {
  const { rows: ds } = await db.query(`SELECT id FROM datasets WHERE id = $1 AND tenant_id = $2`, [
    datasetId,
    tenantId,
  ]);
  if (ds.length === 0) throw new HttpError(400, 'invalid_param', 'Dataset does not exist.');
  const { rows } = await db.query<DocumentRow>(
    `SELECT * FROM documents WHERE id = $1 AND dataset_id = $2`,
    [documentId, datasetId],
  );
  const doc = rows[0];
  if (!doc) throw new HttpError(404, 'not_found', 'Document Not Exists.');
  if (doc.archived) {
    throw new HttpError(
      403,
      'archived_document_immutable',
      'The archived document is not editable.',
    );
  }
  if (
    ['parsing', 'cleaning', 'splitting', 'indexing'].includes(doc.indexing_status) &&
    !doc.is_paused
  ) {
    throw new HttpError(400, 'document_indexing', 'Cannot delete document during indexing.');
  }
  let fileId: string | null = null;
  if (doc.data_source_type === 'upload_file' && doc.data_source_info) {
    fileId =
      (JSON.parse(doc.data_source_info) as { upload_file_id?: string }).upload_file_id ?? null;
  }
  await db.query(`DELETE FROM documents WHERE id = $1`, [documentId]);
  await delay(broker, TASKS.cleanDocument, [documentId, datasetId, doc.doc_form, fileId]);
}
