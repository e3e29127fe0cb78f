// Issue 17 §3: the journal of a killed run, at scale. Seeds a files list of 1M records and the
// journal of a run killed at 50 % (500k `done` records over the first half of the keys, in the
// order concurrent uploads finish) with the engine's own state writer — no tree, no upload — and
// then, in a child process each, opens the state and asks for every key in key order as a resumed
// run does: wall, CPU and peak RSS, with the journal and (the reference) without it.
//   node --conditions=source --import tsx bench/src/journal-bench.ts [--files N] [--journal M]
// Self-cleaning: the state directory is removed (`--keep` keeps it, `--dir` picks it; a kept
// one is measured again without seeding).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdHeap } from '../../packages/sync/src/heap.js';
import { journalRunLimits } from '../../packages/sync/src/journal-runs.js';
import { SyncState, type FileRecord } from '../../packages/sync/src/state.js';

const ID = 'sync-journal-bench-000000000000';
const TENANTS = 300;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** The j-th key in key order: fixed-width hex names, so numeric order is S3's byte order. */
function keyOf(j: number, files: number): string {
  const per = Math.ceil(files / TENANTS);
  const t = Math.floor(j / per);
  return `upload_files/${hex(t, 8)}-6d1c-4c5e-9a3b-${hex(t, 12)}/${hex(j, 8)}-2f0e-4b7a-8c1d-${hex(j * 7919, 12)}.txt`;
}

/** A record as a copy leaves it; `run` tells the journal's (a later run's) from the files list's. */
function recordOf(j: number, files: number, run: number): FileRecord {
  const h = hex((j * 2654435761 + run) >>> 0, 8);
  return {
    key: keyOf(j, files),
    size: j % 4096,
    mtimeNs: String(1_765_000_000_000_000_000n + BigInt(j) * 1000n + BigInt(run)),
    ino: String(1_000_000 + j),
    md5: h.repeat(4),
    sha256: h.repeat(8),
    etag: `${h.repeat(4).slice(0, 30)}${hex(run, 2)}`,
  };
}

async function seed(dir: string, files: number, journal: number): Promise<void> {
  const list = await SyncState.open(dir, ID);
  for (let j = 0; j < files; j++) list.settleSlot(list.reserveSlot(), recordOf(j, files, 0));
  await list.close(true);
  const killed = await SyncState.open(dir, ID);
  // Uploads finish out of order: each window of 16 (the default concurrency) reversed.
  for (let base = 0; base < journal; base += 16) {
    for (let j = Math.min(base + 15, journal - 1); j >= base; j--)
      killed.recordDone(recordOf(j, files, 1));
    if (base % 16_384 === 0) await new Promise((r) => setImmediate(r)); // let the journal flush
  }
  killed.flush();
  await killed.close(false);
}

/** The child: open, every key in key order, close (as a resumed run that is killed again). */
async function measure(dir: string, files: number, journal: number): Promise<void> {
  holdHeap(); // as a copy does (copy-run.ts): V8's young and old generations kept small
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const st = await SyncState.open(dir, ID);
  const openRssMiB = process.memoryUsage().rss / 1024 / 1024;
  let found = 0;
  let fromJournal = 0;
  for (let j = 0; j < files; j++) {
    const r = await st.lookup(keyOf(j, files));
    if (r) found++;
    if (r && r.etag === recordOf(j, files, 1).etag) fromJournal++;
  }
  await st.close(false);
  const cpu = process.cpuUsage(c0);
  const expected = { found: files, fromJournal: Math.min(journal, files) };
  const out: Result = {
    wallS: (performance.now() - t0) / 1000,
    cpuS: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    openRssMiB,
    found,
    fromJournal,
    correct: found === expected.found && fromJournal === expected.fromJournal,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

interface Result {
  wallS: number;
  cpuS: number;
  peakRssMiB: number;
  /** RSS once the state is open (the journal read), before the first lookup. */
  openRssMiB: number;
  found: number;
  fromJournal: number;
  correct: boolean;
}

function child(dir: string, files: number, journal: number): Result {
  const r = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--measure',
      dir,
      '--files',
      String(files),
      '--journal',
      String(journal),
      ...(arg('run-records') ? ['--run-records', arg('run-records')!] : []),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 },
  );
  if (r.status !== 0) throw new Error(`measure child failed (${r.status ?? r.signal})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

async function main(): Promise<void> {
  const files = Number(arg('files') ?? 1_000_000);
  const journal = Number(arg('journal') ?? files / 2);
  const runRecords = arg('run-records');
  if (runRecords) journalRunLimits.records = Number(runRecords);
  const measured = arg('measure');
  if (measured) return measure(measured, files, journal);
  // Only here: the measuring child loads nothing it does not measure.
  const { machineLine, mdTable, saveResults } = await import('./scenario.js');
  const dir = arg('dir') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'journal-bench-'));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  try {
    let t = performance.now();
    // A kept directory (`--keep --dir D`) is measured again as it is.
    if (fs.existsSync(path.join(dir, `${ID}.files.ndjson`))) log(`reusing the state in ${dir}`);
    else await seed(dir, files, journal);
    log(
      `seeded ${files} files-list records and ${journal} journal records in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    t = performance.now();
    const withJournal = child(dir, files, journal);
    const journalPath = path.join(dir, `${ID}.journal.ndjson`);
    fs.renameSync(journalPath, `${journalPath}.aside`);
    const without = child(dir, files, 0);
    fs.renameSync(`${journalPath}.aside`, journalPath);
    log(`measured in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const row = (name: string, r: Result): (string | number)[] => [
      name,
      r.wallS.toFixed(2),
      r.cpuS.toFixed(2),
      r.peakRssMiB.toFixed(0),
      r.fromJournal,
      r.correct ? 'yes' : 'NO',
    ];
    const md = [
      `## Journal of a killed run: open + ${files.toLocaleString('en')} lookups in key order`,
      '',
      machineLine(),
      '',
      mdTable(
        ['state', 'wall s', 'CPU s', 'peak RSS MiB', 'from the journal', 'correct'],
        [
          row(`files list ${files} + journal ${journal}`, withJournal),
          row(`files list ${files}, no journal`, without),
        ],
      ),
      '',
    ].join('\n');
    saveResults('journal', md, { files, journal, withJournal, without }, log);
  } finally {
    if (process.argv.includes('--keep')) log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
