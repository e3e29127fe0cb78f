import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket } from '../src/index.js';
import { SyncState, type FileRecord } from '../src/state.js';
import { bytes, newBucket, tempDir, writeFile } from './helpers.js';

/**
 * Issue 18: the records have readable names in the code (key, size, mtimeNs, …) while the files
 * list and the journal keep their compact one-letter lines, so that the state an earlier version
 * left (a killed run's journal, a complete run's files list) still resumes.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const fresh = (name: string): string => {
  const d = tempDir(name);
  dirs.push(d);
  return d;
};

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A `done` line exactly as the earlier versions wrote it. */
function oldDoneLine(key: string, file: string, body: Buffer): string {
  const st = fs.lstatSync(file, { bigint: true });
  return `{"t":"done","k":${JSON.stringify(key)},"s":${body.length},"m":"${st.mtimeNs}","i":"${st.ino}","md5":"${md5(body)}","sha":"${sha(body)}","e":"${md5(body)}"}`;
}

describe('journal and files list: readable records, compact lines', () => {
  it('reads the one-letter lines of an earlier version as readable records', async () => {
    const dir = fresh('jf-unit');
    fs.chmodSync(dir, 0o700);
    const id = 'sync-x-000000000000';
    const files = [
      '{"k":"a/1","s":1,"m":"10","i":"20","md5":"m1","sha":"s1","e":"m1"}',
      '{"k":"a/2","s":2,"m":"11","i":"21","md5":"m2","sha":"s2","e":"m2"}',
    ];
    fs.writeFileSync(path.join(dir, `${id}.files.ndjson`), `${files.join('\n')}\n`);
    const journal = [
      '{"t":"done","k":"a/2","s":3,"m":"12","i":"22","md5":"m3","sha":"s3","e":"m3"}',
      '{"t":"mpu","k":"big","u":"UP1","s":99,"m":"13","i":"23","ps":5,"md5":"m4","sha":"s4","pm":["p1","p2"]}',
      '{"t":"mpu","k":"gone","u":"UP2","s":9,"m":"1","i":"2","ps":5,"md5":"x","sha":"y","pm":[]}',
      '{"t":"mpu-end","k":"gone"}',
      '{"t":"done","k":"a/3","s":4,', // torn by a kill
    ];
    fs.writeFileSync(path.join(dir, `${id}.journal.ndjson`), `${journal.join('\n')}\n`);

    const reader = await SyncState.readRecords(dir, id);
    const all: FileRecord[] = [];
    for await (const r of reader.all()) all.push(r);
    await reader.close();
    expect(all).toEqual([
      { key: 'a/1', size: 1, mtimeNs: '10', ino: '20', md5: 'm1', sha256: 's1', etag: 'm1' },
      { key: 'a/2', size: 3, mtimeNs: '12', ino: '22', md5: 'm3', sha256: 's3', etag: 'm3' },
    ]);

    const state = await SyncState.open(dir, id);
    expect(await state.lookup('a/1')).toMatchObject({ key: 'a/1', size: 1, etag: 'm1' });
    expect([...state.mpus.values()]).toEqual([
      {
        key: 'big',
        uploadId: 'UP1',
        size: 99,
        mtimeNs: '13',
        ino: '23',
        partSize: 5,
        md5: 'm4',
        sha256: 's4',
        partMd5s: ['p1', 'p2'],
      },
    ]);
    state.recordDone({
      key: 'b',
      size: 5,
      mtimeNs: '14',
      ino: '24',
      md5: 'm5',
      sha256: 's5',
      etag: 'm5',
    });
    await state.close(false);
    // Still the compact line on disk: what an earlier version reads back.
    const lines = fs.readFileSync(path.join(dir, `${id}.journal.ndjson`), 'utf8').split('\n');
    expect(lines).toContain(
      '{"t":"done","k":"b","s":5,"m":"14","i":"24","md5":"m5","sha":"s5","e":"m5"}',
    );
  });

  it("resumes from a killed earlier version's journal: its uploads are skipped, not read", async () => {
    const target: S3Target = await newBucket('journal-format');
    const root = fresh('jf-root');
    const stateDir = fresh('jf-state');
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 12; i++) {
      const rel = `upload_files/t${i % 3}/f${i}.bin`;
      bodies.set(rel, bytes(3000 + i, i));
      writeFile(root, rel, bodies.get(rel)!);
    }
    // The objects are there (a first copy without state), the journal is the earlier version's.
    expect((await syncToBucket({ root, target })).counts.copied).toBe(12);
    const id = SyncState.targetId(new URL(target.endpoint!).origin, target.bucket, '');
    const lines = [...bodies].map(([rel, b]) => oldDoneLine(rel, path.join(root, rel), b));
    fs.writeFileSync(path.join(stateDir, `${id}.journal.ndjson`), `${lines.join('\n')}\n`);

    const report = await syncToBucket({ root, target, stateDir });
    expect(report.counts).toMatchObject({ files: 12, skipped: 12, copied: 0, verifiedByRead: 0 });
    // The files list it leaves has the same compact lines.
    const list = fs.readFileSync(path.join(stateDir, `${id}.files.ndjson`), 'utf8').trim();
    const first = [...bodies.keys()].sort()[0]!;
    expect(list.split('\n')[0]).toBe(
      oldDoneLine(first, path.join(root, first), bodies.get(first)!).replace('"t":"done",', ''),
    );
  }, 60_000);
});
