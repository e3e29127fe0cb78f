import pg from 'pg';
import { normalizeFsPath } from './opendal-path.js';

function connect(databaseUrl: string): pg.Client {
  return new pg.Client({ connectionString: databaseUrl, application_name: 'dify-storage-verify' });
}

/** Runs `work` in a READ ONLY transaction: the checks cannot change Dify's database. */
async function readOnly<T>(
  databaseUrl: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = connect(databaseUrl);
  await client.connect();
  try {
    await client.query('BEGIN TRANSACTION READ ONLY');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } finally {
    await client.end();
  }
}

/**
 * What a stored file is, by the code that writes it in Dify 1.3.0 (dify-1.3.0-fidelity.md §1-8):
 * - `upload_files`: `upload_files` rows (API/console uploads, create-by-text documents);
 * - `image_files`: `upload_files` rows the docx extractor writes (key `image_files/…`, size 0,
 *   no hash; word_extractor.py:95-125);
 * - `tool_files`: `tool_files.file_key` (`tools/…`);
 * - `privkeys`: `privkeys/<tenant>/private.pem`, implied by `tenants.encrypt_public_key`;
 * - `keyword_files`: `keyword_files/<tenant>/<dataset>.txt` for each `dataset_keyword_tables`
 *   row whose `data_source_type <> 'database'` (jieba.py:129-143).
 */
export type ReferenceKind =
  'upload_files' | 'image_files' | 'tool_files' | 'privkeys' | 'keyword_files';

/** Every kind, in the order reports list them. */
export const REFERENCE_KINDS: readonly ReferenceKind[] = [
  'upload_files',
  'image_files',
  'tool_files',
  'privkeys',
  'keyword_files',
];

export interface StorageReference {
  kind: ReferenceKind;
  /** Row id (tenant id for privkeys, dataset_keyword_tables.id for keyword files). */
  id: string;
  tenantId: string | null;
  /** The key exactly as the database holds it: what boto3 uses on S3. */
  key: string;
  /** Where OpenDAL `fs` finds it, relative to the storage root: `normalizeFsPath(key)`. */
  fsPath: string;
  /**
   * Size in bytes, or null when the row's size is not known to be bytes. Only an API upload
   * (`upload_files` with a hash) records bytes (file_service.py:55,88); create-by-text stores
   * the length in characters with no hash (file_service.py:121-134), docx images 0, tool
   * files -1 on legacy rows (models/tools.py:292). So compare sizes only when this is set.
   */
  size: number | null;
  /** The size column as stored (characters, 0, -1 …), e.g. the Content-Length file-preview sends. */
  rowSize: number | null;
  /** sha3-256 hex of the content (upload_files.hash), set only for API uploads. */
  sha3: string | null;
  createdAt: Date | null;
}

/**
 * Every key Dify 1.3.0's database references, in byte order of the key (COLLATE "C"), which is
 * the order S3 lists keys in, so the caller can merge-join with a bucket listing in bounded
 * memory. No filter on storage_type: nothing in 1.3.0 reads that column, and rows written before
 * the cutover say 'opendal', 'local' or even '*'.
 */
const REFERENCES_SQL = `
SELECT kind, id, tenant_id, key, size, sha3, created_at FROM (
  SELECT CASE WHEN key LIKE 'image\\_files/%' THEN 'image_files' ELSE 'upload_files' END AS kind,
         id::text AS id, tenant_id::text AS tenant_id, key,
         size::bigint AS size, NULLIF(hash, '') AS sha3, created_at
    FROM upload_files
  UNION ALL
  SELECT 'tool_files', id::text, tenant_id::text, file_key, size::bigint, NULL, NULL
    FROM tool_files
  UNION ALL
  SELECT 'privkeys', id::text, id::text, 'privkeys/' || id::text || '/private.pem', NULL, NULL, created_at
    FROM tenants WHERE encrypt_public_key IS NOT NULL AND encrypt_public_key <> ''
  UNION ALL
  SELECT 'keyword_files', k.id::text, d.tenant_id::text,
         'keyword_files/' || d.tenant_id::text || '/' || d.id::text || '.txt', NULL, NULL, d.created_at
    FROM dataset_keyword_tables k JOIN datasets d ON d.id = k.dataset_id
   WHERE k.data_source_type <> 'database'
) refs
ORDER BY key COLLATE "C", kind, id`;

interface ReferenceRow {
  kind: ReferenceKind;
  id: string;
  tenant_id: string | null;
  key: string;
  size: string | null;
  sha3: string | null;
  created_at: Date | null;
}

function toReference(r: ReferenceRow): StorageReference {
  const rowSize = r.size === null ? null : Number(r.size);
  const bytes = r.kind === 'upload_files' && r.sha3 !== null && rowSize !== null && rowSize > 0;
  return {
    kind: r.kind,
    id: r.id,
    tenantId: r.tenant_id,
    key: r.key,
    fsPath: normalizeFsPath(r.key),
    size: bytes ? rowSize : null,
    rowSize,
    sha3: r.sha3,
    createdAt: r.created_at,
  };
}

/**
 * Streams the references through a server-side cursor inside a READ ONLY transaction: millions
 * of rows never sit in memory, and the check cannot change the database.
 */
export async function* readStorageReferences(
  databaseUrl: string,
  { batchSize = 5000 }: { batchSize?: number } = {},
): AsyncGenerator<StorageReference> {
  const client = connect(databaseUrl);
  await client.connect();
  try {
    await client.query('BEGIN TRANSACTION READ ONLY');
    await client.query(`DECLARE refs NO SCROLL CURSOR FOR ${REFERENCES_SQL}`);
    for (let guard = 0; guard < 1_000_000; guard++) {
      const batch = await client.query<ReferenceRow>(`FETCH ${batchSize} FROM refs`);
      if (batch.rows.length === 0) break;
      for (const r of batch.rows) yield toReference(r);
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/** Upload files and tenants created after a moment (the cutover), for rollback's checks. */
export function createdSince(
  databaseUrl: string,
  since: Date,
): Promise<{
  uploads: { id: string; key: string; size: number; sha3: string | null }[];
  tenants: string[];
}> {
  return readOnly(databaseUrl, async (client) => {
    const uploads = await client.query<{
      id: string;
      key: string;
      size: number;
      sha3: string | null;
    }>(
      `SELECT id::text AS id, key, size, NULLIF(hash, '') AS sha3 FROM upload_files
        WHERE created_at > $1 ORDER BY created_at LIMIT 10000`,
      [since],
    );
    const tenants = await client.query<{ id: string }>(
      `SELECT id::text AS id FROM tenants WHERE created_at > $1
          AND encrypt_public_key IS NOT NULL AND encrypt_public_key <> '' ORDER BY created_at LIMIT 10000`,
      [since],
    );
    return { uploads: uploads.rows, tenants: tenants.rows.map((t) => t.id) };
  });
}

/** The storage key of one upload_files row (read-only). */
export function uploadFileKey(databaseUrl: string, fileId: string): Promise<string | undefined> {
  return readOnly(databaseUrl, async (client) => {
    const r = await client.query<{ key: string }>(
      'SELECT key FROM upload_files WHERE id::text = $1',
      [fileId],
    );
    return r.rows[0]?.key;
  });
}

/**
 * Removes the upload_files row of a verification probe, the way nothing in Dify's service API
 * can; the one write the verifier makes, limited to the probe's own id.
 */
export async function deleteProbeUploadRow(databaseUrl: string, fileId: string): Promise<boolean> {
  const client = connect(databaseUrl);
  await client.connect();
  try {
    const r = await client.query('DELETE FROM upload_files WHERE id::text = $1', [fileId]);
    return (r.rowCount ?? 0) === 1;
  } finally {
    await client.end();
  }
}
