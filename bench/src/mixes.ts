// The file mixes of issue 17 §1 (plain and TLS) and multipart over TLS (§2, §5): every tool into
// fresh buckets, best of `runs` (tools taking turns), ratios from the same run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import { largeFiles, mixFiles, MIX_LABEL, type Dataset, type Mix } from './datasets.js';
import {
  check as checkOf,
  checksTable,
  machineLine,
  mdTable,
  saveResults,
  type Check,
  type ScenarioContext,
} from './scenario.js';
import {
  awsSync,
  createBucket,
  engineSync,
  rawPutCeiling,
  rclonePurge,
  rcloneSync,
  settle,
  sizesOf,
  type RunResult,
} from './tools.js';

export interface BenchContext {
  /** A fresh bucket, on the TLS endpoint (its CA verified) when `tls`. */
  freshBucket(tool: string, tls: boolean): Promise<S3Target>;
  emptyBuckets(): Promise<void>;
  settle(): Promise<void>;
  log(s: string): void;
  check(name: string, value: number, op: '>=' | '<=', want: number, digits?: number): void;
  results: { section: string; rows: RunResult[] }[];
  stateRoot: string;
  dataDir: string;
  concurrency: number | undefined;
  skip: Set<string>;
}

type Tool = [name: string, run: (t: S3Target, state: string) => Promise<RunResult>];

/**
 * Best (shortest wall) of `runs` runs of each tool, each into a fresh bucket with fresh state.
 * The tools take turns (round by round), so that none runs all its runs while the server is
 * still busy deleting the previous scenario's buckets, or during one noisy spell of the machine.
 */
async function bestOf(
  ctx: BenchContext,
  label: string,
  tools: Tool[],
  runs: number,
  tls: boolean,
): Promise<RunResult[]> {
  const best = new Map<string, RunResult>();
  for (let i = 0; i < runs; i++) {
    for (const [name, run] of tools) {
      const t = await ctx.freshBucket(`${label}-${name}-${i}`, tls);
      await ctx.settle();
      const r = await run(t, path.join(ctx.stateRoot, `${label}-${name}-${i}`));
      ctx.log(`  ${label} ${name} #${i + 1}: ${r.wallS.toFixed(2)} s, CPU ${r.cpuS.toFixed(2)} s`);
      const was = best.get(name);
      if (!was || (r.ok && (!was.ok || r.wallS < was.wallS))) best.set(name, r);
    }
  }
  await ctx.emptyBuckets();
  return tools.map(([name]) => ({
    ...best.get(name)!,
    tool: `${best.get(name)!.tool} (best of ${runs})`,
  }));
}

function tools(ctx: BenchContext, ds: Dataset, withCeiling: boolean): Tool[] {
  const list: Tool[] = [
    [
      'engine',
      (t, state) =>
        engineSync('our engine', {
          root: ds.dir,
          target: t,
          stateDir: state,
          ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
        }),
    ],
  ];
  if (!ctx.skip.has('rclone'))
    list.push(['rclone', (t) => rcloneSync(ds.dir, t, ds.files, ds.bytes)]);
  if (!ctx.skip.has('aws')) list.push(['aws', (t) => awsSync(ds.dir, t, ds.files, ds.bytes)]);
  if (withCeiling && !ctx.skip.has('raw')) {
    const sizes = sizesOf(ds.dir);
    list.push(['raw', (t) => rawPutCeiling(t, sizes, 64, 'lean')]);
  }
  return list;
}

const rowOf = (rows: RunResult[], name: string): RunResult | undefined =>
  rows.find((r) => r.tool.startsWith(name));
const rate = (r: RunResult | undefined): number => (r ? r.files / r.wallS : NaN);
const cpuPerFile = (r: RunResult | undefined): number => (r ? r.cpuS / r.files : NaN);

/** One mix, plain or over TLS: the table and the checks of §1 (§2 over TLS). */
export async function mixScenario(
  ctx: BenchContext,
  mix: Mix,
  files: number,
  runs: number,
  tls: boolean,
): Promise<void> {
  const ds = mixFiles(ctx.dataDir, mix, files);
  sizesOf(ds.dir, true); // into the page cache, so no tool reads it cold
  const where = tls ? 'TLS (CA verified)' : 'plain HTTP';
  ctx.log(`mix ${MIX_LABEL[mix]}, ${where}: ${ds.files} files…`);
  const rows = await bestOf(ctx, `mix${mix}${tls ? '-tls' : ''}`, tools(ctx, ds, true), runs, tls);
  ctx.results.push({
    section: `Mix ${MIX_LABEL[mix]}: ${ds.files} files (${(ds.bytes / 2 ** 20).toFixed(0)} MiB) over 300 tenant directories, ${where}`,
    rows,
  });
  const [ours, rclone, aws, raw] = ['our engine', 'rclone', 'aws', 'raw'].map((n) =>
    rowOf(rows, n),
  );
  const tag = `mix ${mix}${tls ? ' TLS' : ''}`;
  ctx.check(`${tag}: wall engine ÷ rclone`, ours!.wallS / (rclone?.wallS ?? NaN), '<=', 0.67);
  ctx.check(`${tag}: wall engine ÷ aws`, ours!.wallS / (aws?.wallS ?? NaN), '<=', 0.33);
  ctx.check(`${tag}: CPU/file engine ÷ rclone`, cpuPerFile(ours) / cpuPerFile(rclone), '<=', 0.6);
  ctx.check(
    `${tag}: engine peak RSS MiB (${ds.files} files)`,
    ours?.maxRssMiB ?? NaN,
    '<=',
    128,
    0,
  );
  ctx.check(`${tag}: files/s engine ÷ raw ceiling`, rate(ours) / rate(raw), '>=', 0.8);
  if (tls) ctx.check(`${tag}: files/s engine ÷ rclone`, rate(ours) / rate(rclone), '>=', 1.3);
}

/** Multipart: `count` × `mib` MiB, plain or TLS; MB/s against the better of rclone and aws. */
export async function largeScenario(
  ctx: BenchContext,
  count: number,
  mib: number,
  tls: boolean,
): Promise<void> {
  const ds = largeFiles(ctx.dataDir, `large-${count}x${mib}`, count, mib);
  sizesOf(ds.dir, true);
  const where = tls ? 'TLS (CA verified)' : 'plain HTTP';
  ctx.log(`large ${count} × ${mib} MiB, ${where}…`);
  const rows = await bestOf(ctx, `large${tls ? '-tls' : ''}`, tools(ctx, ds, false), 1, tls);
  ctx.results.push({ section: `Large files: ${count} × ${mib} MiB, ${where}`, rows });
  const mbps = (r: RunResult | undefined): number => (r ? r.bytes / r.wallS : 0);
  const [ours, rclone, aws] = ['our engine', 'rclone', 'aws'].map((n) => rowOf(rows, n));
  const tag = `large${tls ? ' TLS' : ''}`;
  ctx.check(
    `${tag}: MB/s engine ÷ best of rclone/aws`,
    mbps(ours) / Math.max(mbps(rclone), mbps(aws)),
    '>=',
    1,
  );
  ctx.check(`${tag}: engine peak RSS MiB`, ours?.maxRssMiB ?? NaN, '<=', 256, 0);
}

const MiB = 2 ** 20;

function resultTable(section: string, rows: RunResult[]): string {
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '–');
  return `### ${section}\n${mdTable(
    [
      'tool',
      'files',
      'MiB',
      'wall s',
      'files/s',
      'MiB/s',
      'CPU s',
      'CPU µs/file',
      'peak RSS MiB',
      'ok',
    ],
    rows.map((r) => [
      r.tool,
      r.files,
      f(r.bytes / MiB),
      f(r.wallS, 2),
      f(r.files / r.wallS, 0),
      f(r.bytes / MiB / r.wallS),
      f(r.cpuS, 2),
      f((r.cpuS * 1e6) / r.files, 0),
      r.maxRssMiB !== undefined ? f(r.maxRssMiB, 0) : '–',
      r.ok ? 'yes' : 'NO',
    ]),
  )}`;
}

/** Runs `body` with a bench context over `sc`; prints and saves the tables and checks. */
async function withContext(
  name: string,
  sc: ScenarioContext,
  body: (ctx: BenchContext) => Promise<void>,
): Promise<void> {
  const checks: Check[] = [];
  const results: BenchContext['results'] = [];
  const written: S3Target[] = [];
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), `dsm-bench-${name}-`));
  const settleMax = Number(sc.arg('settle-max') ?? 30) * 1000;
  const concurrency = sc.arg('concurrency');
  const ctx: BenchContext = {
    async freshBucket(tool, tls) {
      if (tls && !sc.tlsTarget) throw new Error('the S3 server has no TLS endpoint');
      const bucket = `bench-${tool}-${Math.random().toString(36).slice(2, 8)}`;
      const t = tls ? sc.tlsTarget!(bucket) : sc.target(bucket);
      await createBucket(t);
      written.push(t);
      return t;
    },
    async emptyBuckets() {
      for (const t of written.splice(0)) await rclonePurge(t);
    },
    settle: () => settle(sc.log, settleMax),
    log: sc.log,
    check: (n, v, op, want, d) => void checks.push(checkOf(n, v, op, want, d)),
    results,
    stateRoot,
    dataDir: sc.dataDir,
    concurrency: concurrency ? Number(concurrency) : undefined,
    skip: new Set((sc.arg('skip') ?? '').split(',').filter(Boolean)),
  };
  const load0 = machineLine();
  let failure = '';
  try {
    await body(ctx);
  } catch (error) {
    // What ran is still reported.
    failure = `**The scenario stopped early:** ${error instanceof Error ? error.message : String(error)}`;
    sc.log(failure);
  } finally {
    await ctx.emptyBuckets();
    fs.rmSync(stateRoot, { recursive: true, force: true });
  }
  const md = [
    `# Bench: ${name} (${new Date().toISOString()})`,
    `At start: ${load0}`,
    `At end: ${machineLine()}`,
    'CPU: our engine = process.cpuUsage() of its own process around the run; rclone and aws = rusage of their process (/usr/bin/time); raw ceiling = in-process. Each row is the best (shortest wall) of its runs, each into a fresh bucket.',
    ...(failure ? [failure] : []),
    ...results.map((r) => resultTable(r.section, r.rows)),
    `### Targets (issue 17)\n${checksTable(checks)}`,
  ].join('\n\n');
  saveResults(name, md, { results, checks }, sc.log);
}

const mixFilesOf = (sc: ScenarioContext): number => Number(sc.arg('mix-files') ?? 5000);
const runsOf = (sc: ScenarioContext): number => Number(sc.arg('runs') ?? 3);

/** `--scenario mixes`: the three mixes of §1 over plain HTTP (`--mixes a,b,c`). */
export function mixesScenario(sc: ScenarioContext): Promise<void> {
  const mixes = (sc.arg('mixes') ?? 'a,b,c').split(',') as Mix[];
  return withContext('mixes', sc, async (ctx) => {
    for (const m of mixes) await mixScenario(ctx, m, mixFilesOf(sc), runsOf(sc), false);
  });
}

/** `--scenario tls`: mix (a) over TLS with the CA verified (§2). */
export function tlsScenario(sc: ScenarioContext): Promise<void> {
  const mixes = (sc.arg('mixes') ?? 'a').split(',') as Mix[];
  return withContext('tls', sc, async (ctx) => {
    for (const m of mixes) await mixScenario(ctx, m, mixFilesOf(sc), runsOf(sc), true);
  });
}

/** `--scenario large`: multipart 16 × 128 MiB, plain and TLS (§5). */
export function largeScenarios(sc: ScenarioContext): Promise<void> {
  const count = Number(sc.arg('large-count') ?? 16);
  const mib = Number(sc.arg('large-mib') ?? 128);
  return withContext('large', sc, async (ctx) => {
    await largeScenario(ctx, count, mib, false);
    if (!ctx.skip.has('tls')) await largeScenario(ctx, count, mib, true);
  });
}
