import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { journalRunLimits } from '../src/journal-runs.js';
import { compareKeys } from '../src/keys.js';
import { fileLine, SyncState, type FileRecord } from '../src/state.js';
import { tempDir } from './helpers.js';

/**
 * Issue 17 §3: the journal of a killed run is no longer held as a map of its records. Its `done`
 * records are sorted in chunks into run files and merged as the lookups go, so its memory is one
 * chunk and one block per run. These tests set the chunk small, so a few thousand records span
 * many runs (and, with `runs` small, runs merged into one first), and check every answer against
 * a map of the journal as the old code kept it: the last line written for a key wins.
 */
const dirs: string[] = [];
const defaults = { ...journalRunLimits };
afterEach(() => {
  Object.assign(journalRunLimits, defaults);
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const fresh = (name: string): string => {
  const d = tempDir(name);
  fs.chmodSync(d, 0o700);
  dirs.push(d);
  return d;
};
const ID = 'sync-runs-000000000000';
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

/** Keys over a few tenants, some with characters beyond the BMP and beyond one UTF-8 byte. */
function keyOf(i: number): string {
  const name = i % 7 === 0 ? `é-${i}-😀` : i % 5 === 0 ? `a-${i}` : `f${i}`;
  return `upload_files/t${i % 13}/${name}.bin`;
}

function rec(key: string, run: number, i: number): FileRecord {
  const h = `${run}-${i}`.padEnd(32, '0');
  return { key, size: i, mtimeNs: `${1000 + run}`, ino: `${i}`, md5: h, sha256: h, etag: h };
}

const doneLine = (r: FileRecord): string => `{"t":"done",${fileLine(r).slice(1)}`;

/** A files list written by the engine (with its index), and a journal written as given. */
async function seed(dir: string, list: FileRecord[], journal: string[]): Promise<void> {
  const st = await SyncState.open(dir, ID);
  for (const r of [...list].sort((a, b) => compareKeys(a.key, b.key)))
    st.settleSlot(st.reserveSlot(), r);
  await st.close(true);
  fs.writeFileSync(path.join(dir, `${ID}.journal.ndjson`), journal.join(''));
}

/**
 * By default 3,000 keys: the first 2,000 in the files list; a journal of 4,000 `done` lines over
 * keys 1,000–3,999 in a scrambled order, each key written up to three times (the last wins), with
 * multipart lines between them and a torn line in the middle (a kill, then a resumed run).
 */
function scenario(
  listed = 2000,
  done = 4000,
): { list: FileRecord[]; journal: string[]; expected: Map<string, FileRecord> } {
  const list: FileRecord[] = [];
  const expected = new Map<string, FileRecord>();
  for (let i = 0; i < listed; i++) {
    list.push(rec(keyOf(i), 0, i));
    expected.set(keyOf(i), list[i]!);
  }
  const journal: string[] = [];
  for (let n = 0; n < done; n++) {
    const i = 1000 + ((n * 7919) % 3000);
    const r = rec(keyOf(i), 1 + Math.floor(n / 1000), i);
    journal.push(`${doneLine(r)}\n`);
    expected.set(r.key, r);
    if (n % 500 === 0)
      journal.push(
        `{"t":"mpu","k":"big${n}","u":"U","s":9,"m":"1","i":"2","ps":5,"md5":"x","sha":"y","pm":[]}\n`,
      );
    if (n === 2500) journal.push(`{"t":"done","k":"${keyOf(5000)}","s":4,\n`);
  }
  return { list, journal, expected };
}

const sortedValues = (m: Map<string, FileRecord>): FileRecord[] =>
  [...m.values()].sort((a, b) => compareKeys(a.key, b.key));

describe('the journal of a killed run, sorted in runs', () => {
  it.each([
    ['one chunk (in memory)', { records: 100_000, runs: 64 }],
    ['runs of 64 records', { records: 64, runs: 64 }],
    ['runs of 64, merged 4 at a time', { records: 64, runs: 4 }],
    ['runs of 1,500 (several read blocks each)', { records: 1500, runs: 2 }],
  ])('answers lookups and lists every record as the last line written says: %s', async (_n, l) => {
    Object.assign(journalRunLimits, l);
    const dir = fresh('runs');
    const { list, journal, expected } = scenario();
    await seed(dir, list, journal);

    const reader = await SyncState.readRecords(dir, ID);
    const all: FileRecord[] = [];
    for await (const r of reader.all()) all.push(r);
    await reader.close();
    expect(all).toEqual(sortedValues(expected));

    const st = await SyncState.open(dir, ID);
    expect(st.mpus.size).toBe(8);
    const asked = [...expected.keys(), keyOf(5000), 'upload_files/t1/zz-missing', '0-first'].sort(
      compareKeys,
    );
    for (const key of asked) {
      const want = expected.get(key);
      expect(await st.lookup(key)).toEqual(want);
      expect(await st.lookup(key)).toEqual(want); // asked again (the delta asks twice)
    }
    await st.close(false);
    // No run file is left behind (they are unlinked once created).
    expect(fs.readdirSync(dir).filter((n) => n.includes('.run-'))).toEqual([]);
  });

  it("the freeze delta's indexed reader sees the journal's records too", async () => {
    Object.assign(journalRunLimits, { records: 64, runs: 8 });
    const dir = fresh('runs-indexed');
    const { list, journal, expected } = scenario();
    await seed(dir, list, journal);
    const st = await SyncState.open(dir, ID, true);
    const keys = [...expected.keys()].sort(compareKeys).filter((_k, i) => i % 97 === 0);
    for (const key of keys) expect(await st.lookup(key)).toEqual(expected.get(key));
    await st.close(false, { pruned: true });
    expect(fs.readFileSync(path.join(dir, `${ID}.journal.ndjson`), 'utf8')).toContain(
      doneLine(expected.get(keys.at(-1)!)!),
    );
  });

  it('a torn last line is ignored, and the next run appends whole lines after it', async () => {
    const dir = fresh('runs-torn');
    const a = rec('a/1', 1, 1);
    const torn = `${doneLine(rec('a/2', 1, 2)).slice(0, 30)}`; // killed mid-line: no newline
    fs.writeFileSync(path.join(dir, `${ID}.journal.ndjson`), `${doneLine(a)}\n${torn}`);
    const first = await SyncState.open(dir, ID);
    expect(await first.lookup('a/1')).toEqual(a);
    expect(await first.lookup('a/2')).toBeUndefined();
    const b = rec('b/1', 2, 3);
    first.recordDone(b);
    await first.close(false);
    const second = await SyncState.open(dir, ID);
    expect(await second.lookup('a/1')).toEqual(a);
    expect(await second.lookup('a/2')).toBeUndefined();
    expect(await second.lookup('b/1')).toEqual(b);
    await second.close(false);
  });

  // The sort writes only new files, unlinked at once: a kill at any point of it changes nothing
  // the next run reads, and what it leaves (a run file not yet unlinked) is removed then.
  it.each([
    [1, 'before-unlink'],
    [1, 'after-unlink'],
    [6, 'before-unlink'], // after a merge of 4 runs into one
    [9, 'after-unlink'],
  ])('a kill at run file %i (%s) loses nothing', async (n, when) => {
    Object.assign(journalRunLimits, { records: 8, runs: 4 });
    const dir = fresh('runs-kill');
    const { list, journal, expected } = scenario(100, 120);
    await seed(dir, list, journal);
    const journalPath = path.join(dir, `${ID}.journal.ndjson`);
    const before = fs.readFileSync(journalPath);
    const fixture = path.join(here, 'fixtures/journal-open-child.ts');
    const tsx = ['--conditions=source', '--import', 'tsx'];
    const child = spawnSync(process.execPath, [...tsx, fixture, dir, ID, String(n), when], {
      cwd: repoRoot,
      timeout: 30_000,
    });
    expect(child.signal).toBe('SIGKILL');
    expect(fs.readFileSync(journalPath)).toEqual(before);
    const left = fs.readdirSync(dir).filter((f) => f.includes('.journal.run-'));
    expect(left).toHaveLength(when === 'before-unlink' ? 1 : 0);

    const st = await SyncState.open(dir, ID);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.journal.run-'))).toEqual([]);
    for (const r of sortedValues(expected)) expect(await st.lookup(r.key)).toEqual(r);
    await st.close(false);
  });

  it('run files a kill left behind are removed when the state is opened', async () => {
    const dir = fresh('runs-left');
    const left = path.join(dir, `${ID}.journal.run-0123456789abcdef.ndjson`);
    fs.writeFileSync(left, `${fileLine(rec('x', 1, 1))}\n`);
    const other = path.join(dir, 'sync-other-000000000000.journal.run-0123456789abcdef.ndjson');
    fs.writeFileSync(other, 'another target, another run: not ours\n');
    const st = await SyncState.open(dir, ID);
    expect(fs.existsSync(left)).toBe(false);
    expect(fs.existsSync(other)).toBe(true);
    expect(await st.lookup('x')).toBeUndefined();
    await st.close(true);
  });

  it('a reader without write access to the state directory (verify, the export) sorts in a private directory', async () => {
    Object.assign(journalRunLimits, { records: 64, runs: 8 });
    const dir = fresh('runs-ro');
    const { list, journal, expected } = scenario();
    await seed(dir, list, journal);
    const before = fs.readdirSync(dir).sort();
    // Root writes through file modes: a read-only bind mount is what refuses it.
    const mount = (...args: string[]) =>
      spawnSync('mount', args, { encoding: 'utf8', timeout: 10_000 }).status === 0;
    if (!mount('--bind', dir, dir) || !mount('-o', 'remount,ro,bind', dir, dir)) {
      spawnSync('umount', [dir], { timeout: 10_000 });
      console.warn('SKIPPED: cannot make a read-only bind mount (needs root/CAP_SYS_ADMIN)');
      return;
    }
    try {
      const tmpBefore = fs
        .readdirSync(os.tmpdir())
        .filter((n) => n.startsWith('dsm-journal-runs-'));
      const reader = await SyncState.readRecords(dir, ID);
      const all: FileRecord[] = [];
      for await (const r of reader.all()) all.push(r);
      await reader.close();
      expect(all).toEqual(sortedValues(expected));
      expect(fs.readdirSync(dir).sort()).toEqual(before);
      const tmpAfter = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('dsm-journal-runs-'));
      expect(tmpAfter).toEqual(tmpBefore); // the private directory is gone with its runs
    } finally {
      spawnSync('umount', [dir], { timeout: 10_000 });
    }
  });
});
