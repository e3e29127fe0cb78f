/**
 * Backup (preflight + archive + manifest + verification re-read) against the runbook's
 * `tar -czvf` on the same generated Dify-like tree, back to back, best of `--runs`. Run from the
 * repository root:
 *
 *   node --conditions=source --import tsx packages/backup/bench/backup-vs-tar.ts \
 *     [--dataset mixed|dify] [--text pool|prose] [--size-mib 300] [--runs 3] [--level 3]
 *     [--work-dir /tmp/dsm-backup-bench] [--cold] [--keep]
 *
 * --dataset mixed: 5,000 files of 4–64 KiB, half text, half incompressible (≈ 172 MB), the mix
 * measured independently in issue 17 §6 (--size-mib is then ignored). --dataset dify: a tree of
 * --size-mib with log-normal sizes (median ≈ 100 KB, 1% of 10–50 MB), 70% incompressible.
 * --text prose: text like extracted documents (≈ 2.5× with gzip) instead of the highly
 * repetitive default pool (≈ 60×); see dify-tree.ts.
 *
 * Each run times `tar -czvf` then the backup, so the ratios of a run share the machine's load;
 * the table gives every run and the best wall and CPU of each side. CPU is this process's plus
 * its reaped children's (tar's gzip, zstd -d). --cold drops the page cache before each
 * measurement (root only); otherwise the tree is read once before the first run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBackup, preflightBackup, type CreateBackupResult } from '@dify-storage/backup';
import { formatBytes } from '@dify-storage/common';
import { generateDifyTree, generateMixedTree, type TextKind } from './dify-tree.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '300' },
    'work-dir': { type: 'string', default: '/tmp/dsm-backup-bench' },
    level: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    cold: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    dataset: { type: 'string', default: 'mixed' },
    text: { type: 'string', default: 'pool' },
  },
});
const dataset = values.dataset!;
const text = values.text as TextKind;
if (!['mixed', 'dify'].includes(dataset) || !['pool', 'prose'].includes(text)) {
  console.error('--dataset is mixed or dify, --text is pool or prose');
  process.exit(2);
}
const sizeBytes = dataset === 'mixed' ? -1 : Number(values['size-mib']) * 1024 * 1024;
const work = values['work-dir']!;
const level = Number(values.level);
const runs = Math.max(1, Number(values.runs));
const parent = join(work, 'parent');
const storage = join(parent, 'storage');
const out = join(work, 'out');

async function run(cmd: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

/** CPU seconds of this process and its reaped children (tar's gzip, zstd): /proc/self/stat. */
function cpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14-17 (1-based); after ')' they start at index 11.
  return fields.slice(11, 15).reduce((a, b) => a + Number(b), 0) / 100;
}

interface Timing<T> {
  wall: number;
  cpu: number;
  value: T;
}

async function timed<T>(fn: () => Promise<T>): Promise<Timing<T>> {
  if (values.cold) {
    await run('sync', []);
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
  }
  const c = cpuSeconds();
  const t = performance.now();
  const value = await fn();
  return { wall: (performance.now() - t) / 1000, cpu: cpuSeconds() - c, value };
}

async function prepareTree(): Promise<{ files: number; bytes: number }> {
  const marker = join(work, 'tree.json');
  const spec = { dataset, text, sizeBytes };
  const previous = existsSync(marker) ? JSON.parse(await readFile(marker, 'utf8')) : null;
  if (JSON.stringify(previous?.spec) === JSON.stringify(spec) && existsSync(storage)) {
    console.log(`reusing tree ${storage}`);
    return previous.tree;
  }
  await rm(work, { recursive: true, force: true });
  await mkdir(storage, { recursive: true });
  const tree =
    dataset === 'mixed'
      ? await generateMixedTree(storage, 5000, 17, text)
      : await generateDifyTree(storage, sizeBytes, 42, text);
  await writeFile(marker, JSON.stringify({ spec, tree }));
  return tree;
}

async function ourBackup(i: number): Promise<CreateBackupResult> {
  const backupDir = join(out, `backups-${i}`);
  const preflightReport = await preflightBackup({ storageDir: storage, backupDir });
  return createBackup({ storageDir: storage, backupDir, zstdLevel: level, preflightReport });
}

const tree = await prepareTree();
console.log(`tree: ${tree.files} files, ${formatBytes(tree.bytes)} (${dataset}, text ${text})`);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
if (!values.cold) await run('sh', ['-c', `tar -cf - -C ${parent} storage | cat > /dev/null`]);

const rows: { tar: Timing<number>; ours: Timing<CreateBackupResult> }[] = [];
for (let i = 0; i < runs; i++) {
  const tgz = join(out, `run-${i}.tgz`);
  const tar = await timed(async () => {
    await run('tar', ['-czvf', tgz, '-C', parent, 'storage']);
    return (await stat(tgz)).size;
  });
  await rm(tgz);
  const ours = await timed(() => ourBackup(i));
  await rm(join(out, `backups-${i}`), { recursive: true, force: true });
  rows.push({ tar, ours });
  const d = ours.value.record.durations;
  console.log(
    `run ${i + 1}: tar -czvf ${tar.wall.toFixed(2)} s / ${tar.cpu.toFixed(2)} s CPU; backup ` +
      `${ours.wall.toFixed(2)} s / ${ours.cpu.toFixed(2)} s CPU (preflight ${d.preflightMs} ms, ` +
      `archive ${d.archiveMs} ms, verify ${d.verifyMs} ms); load ${os.loadavg()[0]!.toFixed(1)}`,
  );
}
const plain = await timed(() =>
  run('sh', [
    '-c',
    `tar -cf - -C ${parent} storage | zstd -q -T0 -${level} -o ${join(out, 'plain.tar.zst')}`,
  ]),
);
const plainBytes = (await stat(join(out, 'plain.tar.zst'))).size;

const best = (pick: (r: (typeof rows)[number]) => number) => Math.min(...rows.map(pick));
const mb = (n: number) => (n / 1e6).toFixed(1);
const rec = rows[0]!.ours.value.record;
console.log(`\n| run | tar -czvf wall / CPU s | backup wall / CPU s | wall ratio | CPU ratio |`);
console.log(`| --: | --: | --: | --: | --: |`);
rows.forEach((r, i) =>
  console.log(
    `| ${i + 1} | ${r.tar.wall.toFixed(2)} / ${r.tar.cpu.toFixed(2)} | ` +
      `${r.ours.wall.toFixed(2)} / ${r.ours.cpu.toFixed(2)} | ` +
      `${(r.tar.wall / r.ours.wall).toFixed(2)} | ${(r.tar.cpu / r.ours.cpu).toFixed(2)} |`,
  ),
);
const [tw, tc, ow, oc] = [
  best((r) => r.tar.wall),
  best((r) => r.tar.cpu),
  best((r) => r.ours.wall),
  best((r) => r.ours.cpu),
];
console.log(
  `| best | ${tw.toFixed(2)} / ${tc.toFixed(2)} | ${ow.toFixed(2)} / ${oc.toFixed(2)} | ` +
    `${(tw / ow).toFixed(2)} | ${(tc / oc).toFixed(2)} |`,
);
console.log(
  `\narchive ${mb(rec.archive.bytes)} MB (+ manifest ${mb(rec.manifest.bytes)} MB, checksums ` +
    `${mb(rec.checksums.bytes)} MB) vs tgz ${mb(rows[0]!.tar.value)} MB; ` +
    `tar | zstd -T0 -${level} (no manifest, no verify): ${plain.wall.toFixed(2)} s / ` +
    `${plain.cpu.toFixed(2)} s CPU, ${mb(plainBytes)} MB`,
);
await writeFile(
  join(work, 'results.json'),
  JSON.stringify(
    {
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      dataset,
      text,
      cold: values.cold,
      tree,
      runs: rows.map((r) => ({
        tar: { wall: r.tar.wall, cpu: r.tar.cpu, bytes: r.tar.value },
        backup: { wall: r.ours.wall, cpu: r.ours.cpu, durations: r.ours.value.record.durations },
      })),
      archiveBytes: rec.archive.bytes,
      plainZstd: { wall: plain.wall, cpu: plain.cpu, bytes: plainBytes },
    },
    null,
    2,
  ),
);
if (!values.keep) await rm(out, { recursive: true, force: true });
