import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { SortedRecordReader, fileLine } from '../src/state.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-files-list-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Issue 17 §3: at 1M files the walk's RSS grew with the files list read in 1 MiB chunks: a fresh
// 1 MiB buffer per 4,000 records left ≈ 45 MiB of malloc'd memory outside V8's heap by the end
// (docs/performance.md, "Walk + decide at 1M"). It is read in 64 KiB chunks.
describe('reading a files list', () => {
  it('reads every record, in chunks of at most 64 KiB', async () => {
    const file = path.join(dir, 'x.files.ndjson');
    const n = 12_000; // ≈ 2.5 MB
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = `upload_files/t/${String(i).padStart(8, '0')}.png`;
      const hex = i.toString(16).padStart(32, '0');
      lines.push(
        fileLine({ key, size: i, mtimeNs: '1', ino: String(i), md5: hex, sha256: hex, etag: hex }),
      );
    }
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const original = fs.read.bind(fs) as (...a: unknown[]) => void;
    const reads: number[] = [];
    const spy = jest.spyOn(fs, 'read').mockImplementation(((...args: unknown[]) => {
      reads.push((args[1] as Buffer).length);
      original(...args);
    }) as unknown as typeof fs.read);
    let count = 0;
    let last = '';
    try {
      const r = await SortedRecordReader.open(file);
      for await (const rec of r.all()) {
        count++;
        last = rec.key;
      }
      await r.close();
    } finally {
      spy.mockRestore();
    }
    expect(count).toBe(n);
    expect(last).toBe(`upload_files/t/${String(n - 1).padStart(8, '0')}.png`);
    expect(reads.length).toBeGreaterThan(0);
    expect(Math.max(...reads)).toBeLessThanOrEqual(64 * 1024);
  });
});
