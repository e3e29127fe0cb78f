import type { Db } from './schema.js';
import type { Storage } from './storage/index.js';
import { keywordFileKey } from './keys.js';
import { log } from './log.js';

/**
 * `DatasetKeywordTable.keyword_table_dict` (models/dataset.py:897-908), what Jieba's
 * `_get_dataset_keyword_table` reads: the JSON column when `data_source_type == 'database'`,
 * else `storage.load` of the keyword file. Any exception is logged and gives None, as in Dify.
 * `undefined` when the dataset has no keyword table row. Lists stay lists (SetDecoder's sets
 * would be serialized back to lists anyway).
 */
export async function keywordTableDict(
  db: Db,
  storage: Storage,
  datasetId: string,
): Promise<{ dataSourceType: string; table: unknown } | undefined> {
  const { rows } = await db.query<{
    tenant_id: string;
    keyword_table: string;
    data_source_type: string;
  }>(
    `SELECT d.tenant_id, k.keyword_table, k.data_source_type
       FROM dataset_keyword_tables k JOIN datasets d ON d.id = k.dataset_id
      WHERE k.dataset_id = $1`,
    [datasetId],
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.data_source_type === 'database') {
    return {
      dataSourceType: row.data_source_type,
      table: row.keyword_table ? JSON.parse(row.keyword_table) : null,
    };
  }
  const key = keywordFileKey(row.tenant_id, datasetId);
  try {
    const text = (await storage.load(key)).toString('utf8');
    return { dataSourceType: row.data_source_type, table: JSON.parse(text) as unknown };
  } catch (err) {
    log(
      'ERROR',
      'dataset.py:907',
      `Failed to load keyword table from file: ${key}: ${String(err)}`,
    );
    return { dataSourceType: row.data_source_type, table: null };
  }
}
