import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ManifestTable, loadManifest } from '../src/manifest.js';
import { tempDir } from './helpers.js';

const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

const hex = (s: string, alg: 'md5' | 'sha256'): string => createHash(alg).update(s).digest('hex');

describe('ManifestTable (the reverse sync looks the backup manifest up without a Map of paths)', () => {
  it('answers as the Map of the same manifest does, for every path and for absent ones', async () => {
    const dir = tempDir('mtab');
    cleanup.push(dir);
    const lines: object[] = [{ path: 'upload_files', type: 'dir', size: 0 }];
    for (let i = 0; i < 5000; i++) {
      const p = `${i % 3 ? './' : ''}upload_files/t${i % 50}/${i}.pdf`;
      lines.push({
        path: p,
        size: i,
        ...(i % 7 ? { sha256: hex(p, 'sha256') } : {}),
        ...(i % 5 ? { md5: hex(p, 'md5') } : { md5: 'not-hex' }),
        type: 'file',
      });
    }
    // A path listed twice: the later record wins, as in the Map.
    lines.push({ path: 'upload_files/t1/1.pdf', size: 42, md5: hex('x', 'md5') });
    const file = path.join(dir, 'm.ndjson');
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const map = await loadManifest(file);
    const table = await ManifestTable.load(file);
    expect(table.size).toBe(5001);
    for (const [p, r] of map) {
      const got = table.get(p)!;
      expect(got.size).toBe(r.size);
      expect(got.sha256).toBe(r.sha256);
      expect(got.md5).toBe(r.md5 === 'not-hex' ? undefined : r.md5);
    }
    expect(table.get('upload_files/t1/1.pdf')!.size).toBe(42);
    expect(table.get('upload_files')).toBeUndefined();
    expect(table.get('upload_files/t0/999999.pdf')).toBeUndefined();
  });
});
