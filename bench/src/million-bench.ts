// `--scenario 1m` (issue 17 §3), the part that needs no million uploads: rollback's reverse sync
// against a backup manifest of a million files (in backup order, as a backup writes it), with 1%
// new objects in the bucket (10,000, all restored). Peak RSS of the reverse sync (the manifest
// merge-joined with the listing, streamed) and of loading the same manifest as the Map the
// reverse sync used before; wall and CPU against
// `rclone copy` of the same objects by listing. The bucket holds only the new objects (uploading
// the million the bulk copy would have put there takes 30–45 min here), so the listing is 10,000
// keys, not 1,010,000. Self-cleaning.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { comparePaths } from '../../packages/common/src/path-order.js';
import os from 'node:os';
import path from 'node:path';
import { rcloneEnv } from '@dify-storage/action-tests/proving-ground/s3';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket } from '@dify-storage/sync';
import { difyTree, SPEC_FILE } from './dify-tree.js';
import * as sc from './scenario.js';
import { REPO, rclonePurge, timed } from './tools.js';

export interface ReverseRow {
  tool: string;
  wallS: number;
  cpuS: number;
  rssMiB: number;
  copied: number;
  requests?: Record<string, number>;
}
type Row = ReverseRow;

/** A backup manifest (NDJSON, the backup's fields, its order) of `n` Dify-shaped files. */
function writeManifest(file: string, n: number): void {
  const fd = fs.openSync(file, 'w');
  let buf: string[] = [];
  const paths = Array.from(
    { length: n },
    (_, i) => `upload_files/t${i % 300}/${createHash('md5').update(String(i)).digest('hex')}.pdf`,
  ).sort(comparePaths);
  for (const [i, p] of paths.entries()) {
    const sha256 = createHash('sha256').update(p).digest('hex');
    buf.push(JSON.stringify({ path: p, type: 'file', size: i % 4097, mode: 420, sha256 }));
    if (buf.length === 10_000) {
      fs.writeSync(fd, `${buf.join('\n')}\n`);
      buf = [];
    }
  }
  if (buf.length) fs.writeSync(fd, `${buf.join('\n')}\n`);
  fs.closeSync(fd);
}

const CHILD = ['--conditions=source', '--import', 'tsx'];

export async function reverseSync(
  target: S3Target,
  root: string,
  manifest: string,
  tool = 'our reverse sync (manifest streamed)',
  stateDir?: string,
): Promise<Row> {
  let result:
    | {
        wallMs: number;
        cpuMs: number;
        maxRssKiB: number;
        counts: { copied: number };
        requests: Record<string, number>;
      }
    | undefined;
  const r = await timed(
    process.execPath,
    // DSM_BENCH_REVERSE_NODE_ARGS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (diagnosis).
    [
      ...(process.env.DSM_BENCH_REVERSE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...CHILD,
      path.join(REPO, 'bench/src/from-bucket-child.ts'),
    ],
    {
      // As the rollback passes it: the manifest is a backup's own (backup order).
      input: JSON.stringify({
        root,
        target,
        manifest,
        backupManifests: true,
        ...(stateDir ? { stateDir } : {}),
      }),
      onLine: (l) => {
        const m = JSON.parse(l) as { result?: typeof result };
        if (m.result) result = m.result;
      },
    },
  );
  if (!result) throw new Error(`reverse sync failed: ${r.stderr.slice(-400)}`);
  return {
    tool,
    wallS: result.wallMs / 1000,
    cpuS: result.cpuMs / 1000,
    rssMiB: result.maxRssKiB / 1024,
    copied: result.counts.copied,
    requests: result.requests,
  };
}

/** Peak RSS of a process that only loads the manifest as the Map the reverse sync held before. */
async function mapRss(manifest: string): Promise<Row> {
  const code = `import { loadManifest } from '@dify-storage/sync'; const m = await loadManifest(${JSON.stringify(manifest)}); process.stdout.write(String(m.size) + '\\n');`;
  const r = await timed(process.execPath, [...CHILD, '--input-type=module', '-e', code]);
  return {
    tool: 'the manifest as a Map (before), load only',
    wallS: r.wallS,
    cpuS: r.cpuS,
    rssMiB: r.maxRssKiB / 1024,
    copied: 0,
  };
}

/** `rclone copy` of the bucket into `dir` (what it finds to copy by its listing and `extra`). */
export async function rcloneCopy(
  target: S3Target,
  dir: string,
  extra: string[] = [],
  tool = 'rclone copy --transfers 16 (by listing)',
): Promise<Row> {
  const r = await timed(
    '/usr/bin/rclone',
    ['copy', `ceph:${target.bucket}`, dir, '--transfers', '16', '--checkers', '16', ...extra],
    { env: rcloneEnv(target) },
  );
  return { tool, wallS: r.wallS, cpuS: r.cpuS, rssMiB: r.maxRssKiB / 1024, copied: NaN };
}

/** The reverse-sync rows as a markdown table (requests where the tool reports them). */
export function reverseTable(rows: Row[]): string {
  return sc.mdTable(
    ['tool', 'wall s', 'CPU s', 'peak RSS MiB', 'copied', 'GET', 'HEAD'],
    rows.map((r) => [
      r.tool,
      r.wallS.toFixed(2),
      r.cpuS.toFixed(2),
      r.rssMiB.toFixed(0),
      Number.isNaN(r.copied) ? '–' : r.copied,
      r.requests ? String(r.requests.GetObject ?? 0) : '–',
      r.requests ? String(r.requests.HeadObject ?? 0) : '–',
    ]),
  );
}

export async function millionScenario(ctx: sc.ScenarioContext): Promise<void> {
  const { log } = ctx;
  const files = Number(ctx.arg('manifest-files') ?? 1_000_000);
  const fresh = Math.round(files / 100);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-bench-1m-'));
  const target = await sc.freshTarget(ctx, '1m-rollback');
  const started = sc.machineLine();
  try {
    log(`1m: a backup manifest of ${files} files…`);
    const manifest = path.join(work, 'manifest.ndjson');
    writeManifest(manifest, files);
    log(`1m: ${fresh} new objects in the bucket…`);
    const tree = difyTree(work, fresh, 100, log);
    await syncToBucket({ root: tree.dir, target, exclude: [SPEC_FILE, '.bench-bytes'] });
    const rows: Row[] = [];
    log('1m: reverse sync…');
    const ours = path.join(work, 'ours');
    fs.mkdirSync(ours);
    rows.push(await reverseSync(target, ours, manifest));
    log('1m: rclone copy…');
    const theirs = path.join(work, 'rclone');
    fs.mkdirSync(theirs);
    rows.push(await rcloneCopy(target, theirs));
    log('1m: the Map of the manifest (before)…');
    rows.push(await mapRss(manifest));
    const checks = [
      sc.check(
        `reverse sync peak RSS MiB with a ${files}-file manifest`,
        rows[0]!.rssMiB,
        '<=',
        256,
        0,
      ),
      sc.check('reverse sync copied all new objects', rows[0]!.copied, '>=', fresh, 0),
      sc.check('reverse sync wall ÷ rclone copy', rows[0]!.wallS / rows[1]!.wallS, '<=', 0.5),
    ];
    const md = [
      `# Million files: rollback's reverse sync (${new Date().toISOString()})`,
      `Start: ${started}. End: ${sc.machineLine()}.`,
      `Manifest of ${files} files; the bucket holds ${fresh} new objects, none in the manifest. CPU and RSS: rusage of the whole process (incl. ~0.5 s of tsx start), our run's wall/CPU from inside it.`,
      '',
      reverseTable(rows),
      '',
      sc.checksTable(checks),
      '',
    ].join('\n');
    sc.saveResults('million', md, { rows, checks }, log);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await rclonePurge(target).catch(() => undefined);
  }
}
