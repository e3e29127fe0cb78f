import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A canary sweep: every secret of a run, searched in every text that leaves the node, in each
 * shape a leak could take (raw, base64 at each of the three byte alignments, base64url,
 * percent-encoded, JSON-escaped, hex).
 */

export interface Needle {
  secret: string;
  shape: string;
  text: string;
}

export interface Hit {
  where: string;
  secret: string;
  shape: string;
}

/** The base64 characters that depend only on `value`'s bytes, for a value at byte offset k. */
function base64Aligned(value: Buffer, k: number, url: boolean): string {
  const encoded = Buffer.concat([Buffer.alloc(k), value]).toString(url ? 'base64url' : 'base64');
  const first = Math.ceil((8 * k) / 6);
  const last = Math.floor((8 * (k + value.length)) / 6);
  return encoded.slice(first, last);
}

/** Every shape of one secret worth searching for (shapes shorter than 8 characters are dropped). */
export function needlesOf(name: string, value: string): Needle[] {
  const bytes = Buffer.from(value, 'utf8');
  const json = JSON.stringify(value).slice(1, -1);
  const shapes: [string, string][] = [
    ['raw', value],
    ['percent-encoded', encodeURIComponent(value)],
    ['form-encoded', new URLSearchParams({ v: value }).toString().slice(2)],
    ['JSON-escaped', json],
    ['JSON-escaped (\\/)', json.replace(/\//g, '\\/')],
    ['hex', bytes.toString('hex')],
    ['HEX', bytes.toString('hex').toUpperCase()],
  ];
  for (const k of [0, 1, 2]) {
    shapes.push([`base64 (offset ${k})`, base64Aligned(bytes, k, false)]);
    shapes.push([`base64url (offset ${k})`, base64Aligned(bytes, k, true)]);
  }
  const seen = new Set<string>();
  return shapes
    .filter(([, text]) => text.length >= 8 && !seen.has(text) && seen.add(text))
    .map(([shape, text]) => ({ secret: name, shape, text }));
}

export function needlesOfAll(secrets: Record<string, string>): Needle[] {
  return Object.entries(secrets).flatMap(([name, value]) => needlesOf(name, value));
}

export function scanText(where: string, text: string, needles: Needle[]): Hit[] {
  return needles
    .filter((n) => text.includes(n.text))
    .map((n) => ({ where, secret: n.secret, shape: n.shape }));
}

/** Every regular file below `root` (symlinks are not followed), read as latin1 so any byte matches. */
export async function scanTree(
  root: string,
  needles: Needle[],
  skip: (file: string) => boolean = () => false,
): Promise<{ hits: Hit[]; files: number }> {
  const hits: Hit[] = [];
  let files = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (skip(full)) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        files++;
        hits.push(...scanText(full, await readFile(full, 'latin1'), needles));
      }
    }
  };
  const st = await lstat(root).catch(() => undefined);
  if (st?.isDirectory()) await walk(root);
  else if (st?.isFile()) {
    files++;
    hits.push(...scanText(root, await readFile(root, 'latin1'), needles));
  }
  return { hits, files };
}
