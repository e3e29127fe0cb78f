import fs from 'node:fs';
import readline from 'node:readline';
import { SyncConfigError } from './errors.js';

/** One file of a manifest (the backup's per-file list); extra fields are ignored. */
export interface ManifestRecord {
  path: string;
  size: number;
  sha256?: string;
  md5?: string;
  mtime?: number | string;
  mode?: number;
}

export type ManifestSource = string | Iterable<ManifestRecord> | AsyncIterable<ManifestRecord>;

/** Reads a manifest (NDJSON file path, or records) into a map by path. */
export async function loadManifest(source: ManifestSource): Promise<Map<string, ManifestRecord>> {
  const map = new Map<string, ManifestRecord>();
  const add = (r: ManifestRecord, where: string): void => {
    // A backup manifest also lists directories and skipped entries: they have no object.
    const type = (r as { type?: unknown }).type;
    if (type !== undefined && type !== 'file') return;
    if (typeof r?.path !== 'string' || typeof r.size !== 'number') {
      throw new SyncConfigError(
        `manifest ${where}: each record needs "path" (string) and "size" (number)`,
      );
    }
    map.set(r.path.replace(/^\.\//, ''), r);
  };
  if (typeof source === 'string') {
    let n = 0;
    const rl = readline.createInterface({
      input: fs.createReadStream(source),
      crlfDelay: Infinity,
    });
    try {
      for await (const line of rl) {
        n++;
        if (!line.trim()) continue;
        let rec: ManifestRecord;
        try {
          rec = JSON.parse(line) as ManifestRecord;
        } catch {
          throw new SyncConfigError(`manifest ${source} line ${n} is not JSON`);
        }
        add(rec, `${source} line ${n}`);
      }
    } catch (error) {
      if (error instanceof SyncConfigError) throw error;
      throw new SyncConfigError(`manifest ${source} cannot be read: ${(error as Error).message}`);
    }
  } else {
    let n = 0;
    for await (const r of source as AsyncIterable<ManifestRecord>) add(r, `record ${++n}`);
  }
  return map;
}

/** One line of md5sum format (what `rclone check --checkfile MD5` reads). */
export function md5Line(md5hex: string, relPath: string): string {
  return `${md5hex}  ${relPath}\n`;
}
