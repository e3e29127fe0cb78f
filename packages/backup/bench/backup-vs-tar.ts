/**
 * Backup (archive + manifest + verification) against the runbook's `tar -czvf` on the same
 * generated Dify-like tree. Run from the repository root:
 *
 *   node --conditions=source --import tsx packages/backup/bench/backup-vs-tar.ts \
 *     [--size-mib 2048] [--work-dir /tmp/dsm-backup-bench] [--level 3] [--cold] [--keep]
 *     [--dataset dify|mixed]
 *
 * --dataset mixed: 5,000 files of 4–64 KiB, half text, half incompressible (≈ 172 MB), the mix
 * measured independently in issue 17 §6 (--size-mib is then ignored).
 *
 * --cold drops the page cache before each measurement (root only); otherwise both runs start
 * with the tree in the page cache (a warm-up read is done first).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBackup, preflightBackup } from '@dify-storage/backup';
import { formatBytes } from '@dify-storage/common';
import { generateDifyTree, generateMixedTree } from './dify-tree.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '300' },
    'work-dir': { type: 'string', default: '/tmp/dsm-backup-bench' },
    level: { type: 'string', default: '3' },
    cold: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    dataset: { type: 'string', default: 'dify' },
  },
});
const mixed = values.dataset === 'mixed';
const sizeBytes = mixed ? -1 : Number(values['size-mib']) * 1024 * 1024;
const work = values['work-dir']!;
const level = Number(values.level);
const parent = join(work, 'parent');
const storage = join(parent, 'storage');
const out = join(work, 'out');

async function run(cmd: string, args: string[], opts: { shell?: boolean } = {}): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

/** CPU seconds of this process and its reaped children (tar's gzip, our zstd): /proc/self/stat. */
function cpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14-17 (1-based); after ')' they start at index 11.
  return fields.slice(11, 15).reduce((a, b) => a + Number(b), 0) / 100;
}

async function timed<T>(
  label: string,
  fn: () => Promise<T>,
): Promise<{ ms: number; cpuS: number; value: T }> {
  if (values.cold) await dropCaches();
  const c = cpuSeconds();
  const t = performance.now();
  const value = await fn();
  const ms = performance.now() - t;
  const cpuS = cpuSeconds() - c;
  console.log(`${label}: ${(ms / 1000).toFixed(2)} s wall, ${cpuS.toFixed(2)} s CPU`);
  return { ms, cpuS, value };
}

async function dropCaches(): Promise<void> {
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
}

const marker = join(work, 'tree.json');
const previous = existsSync(marker) ? JSON.parse(await readFile(marker, 'utf8')) : null;
let tree: { files: number; bytes: number };
if (previous?.sizeBytes === sizeBytes && existsSync(storage)) {
  tree = previous.tree;
  console.log(`reusing tree ${storage}: ${tree.files} files, ${formatBytes(tree.bytes)}`);
} else {
  await rm(work, { recursive: true, force: true });
  await mkdir(storage, { recursive: true });
  const t = performance.now();
  tree = mixed ? await generateMixedTree(storage) : await generateDifyTree(storage, sizeBytes);
  await writeFile(marker, JSON.stringify({ sizeBytes, tree }));
  console.log(
    `generated ${tree.files} files, ${formatBytes(tree.bytes)} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
if (!values.cold) await run('sh', ['-c', `tar -cf - -C ${parent} storage | cat > /dev/null`]);

const tgz = join(out, 'out.tgz');
const tarRun = await timed('tar -czvf (runbook)', () =>
  run('tar', ['-czvf', tgz, '-C', parent, 'storage']),
);
const tarPlainZstd = await timed('tar -cf - | zstd -T0 -3 (no manifest, no verify)', () =>
  run('sh', [
    '-c',
    `tar -cf - -C ${parent} storage | zstd -q -T0 -${level} -o ${join(out, 'plain.tar.zst')}`,
  ]),
);
const ours = await timed(
  `backup (preflight + archive + manifest + verify, zstd -${level})`,
  async () => {
    const pre = await preflightBackup({ storageDir: storage, backupDir: join(out, 'backups') });
    return createBackup({
      storageDir: storage,
      backupDir: join(out, 'backups'),
      zstdLevel: level,
      skipPreflight: true,
      onProgress: (p) =>
        p.done ||
        console.log(
          `  ${p.phase} ${p.files} files ${formatBytes(p.bytes)} ${formatBytes(p.bytesPerSecond)}/s`,
        ),
    }).then((r) => ({ ...r, pre }));
  },
);

const tgzBytes = (await stat(tgz)).size;
const plainBytes = (await stat(join(out, 'plain.tar.zst'))).size;
const rec = ours.value.record;
const result = {
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    node: process.version,
    kernel: os.release(),
  },
  cold: values.cold,
  tree: { files: tree.files, bytes: tree.bytes },
  loadAverage: os.loadavg(),
  tarCzvf: { seconds: tarRun.ms / 1000, cpuSeconds: tarRun.cpuS, bytes: tgzBytes },
  tarZstdPlain: {
    seconds: tarPlainZstd.ms / 1000,
    cpuSeconds: tarPlainZstd.cpuS,
    bytes: plainBytes,
  },
  backup: {
    seconds: ours.ms / 1000,
    cpuSeconds: ours.cpuS,
    preflightSeconds: ours.value.pre.durationMs / 1000,
    archiveSeconds: rec.durations.archiveMs / 1000,
    verifySeconds: (rec.durations.verifyMs ?? 0) / 1000,
    archiveBytes: rec.archive.bytes,
    manifestBytes: rec.manifest.bytes,
    checksumsBytes: rec.checksums.bytes,
    zstdLevel: level,
  },
  speedupVsTarCzvf: tarRun.ms / ours.ms,
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `\nbackup ${result.backup.seconds.toFixed(2)} s vs tar -czvf ${result.tarCzvf.seconds.toFixed(2)} s → ` +
    `${result.speedupVsTarCzvf.toFixed(2)}× faster; archive ${formatBytes(rec.archive.bytes)} vs tgz ${formatBytes(tgzBytes)}`,
);
await writeFile(join(work, 'results.json'), JSON.stringify(result, null, 2));
if (!values.keep) await rm(out, { recursive: true, force: true });
