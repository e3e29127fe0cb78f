import type fs from 'node:fs';
import { recordOfFile, type FileRecord } from './state.js';
import type { ObjectInfo } from './transport.js';

/**
 * What the copy does with one walked file, from what is known without reading it:
 * - `skip`: the object has the file's size and the ETag the journal recorded for this very file
 *   (same size, mtime and inode): nothing to read, no request;
 * - `verify`: an object of the same size but no matching record: read the file and compare its
 *   hash with the ETag, upload only if they differ;
 * - `upload`: no object of that size.
 */
export type Decision = 'skip' | 'verify' | 'upload';

export function decide(
  stat: Pick<fs.BigIntStats, 'size' | 'mtimeNs' | 'ino'>,
  object: ObjectInfo | undefined,
  record: FileRecord | undefined,
): Decision {
  const size = Number(stat.size);
  if (!object || object.size !== size) return 'upload';
  if (record && record.etag === object.etag && recordOfFile(record, stat)) return 'skip';
  return 'verify';
}
