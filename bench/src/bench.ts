// The sync benchmark: our engine vs `aws s3 sync`, `rclone sync` and a raw signed-PUT ceiling on
// the same local RGW, each into a fresh bucket, plus no-change re-syncs, peak RSS on a large
// tree and SIGKILL/resume. Usage: node --conditions=source --import tsx bench/src/bench.ts
//   [--scale 0.1] [--small N] [--large-count N] [--large-mib N] [--rss-files N]
//   [--skip aws,rclone,raw,large,rss,resume] [--concurrency N] [--data-dir DIR]
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import { verifyBucket } from '@dify-storage/sync';
import { largeFiles, smallFiles, type Dataset } from './datasets.js';
import { freezeScenario } from './freeze-bench.js';
import { largeScenarios, mixesScenario, tlsScenario } from './mixes.js';
import { millionScenario } from './million-bench.js';
import { scaleScenario } from './scale-bench.js';
import { walkScenario } from './walk-bench.js';
import type { ScenarioContext } from './scenario.js';
import {
  REPO,
  awsSync,
  createBucket,
  engineSync,
  rawPutCeiling,
  rclonePurge,
  rcloneSync,
  sizesOf,
  settle,
  type RunResult,
} from './tools.js';

const MiB = 1024 * 1024;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function num(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} must be a positive number, got ${v}`);
  return n;
}

const scale = num('scale', 1);
const smallCount = Math.round(num('small', 20_000 * scale));
const largeCount = Math.round(num('large-count', 16));
const largeMiB = Math.round(num('large-mib', Math.max(8, 128 * scale)));
const rssFiles = Math.round(num('rss-files', 200_000 * scale));
const skip = new Set((arg('skip') ?? '').split(',').filter(Boolean));
const concurrency = arg('concurrency') ? num('concurrency', 0) : undefined;
const dataDir = arg('data-dir') ?? path.join(os.tmpdir(), 'dsm-bench-data');

let serverNote = '';

async function s3Env(): Promise<{
  target: (bucket: string) => S3Target;
  tlsTarget: ((bucket: string) => S3Target) | undefined;
  stop: () => Promise<void>;
  /** A proving ground this run started: discarded at the end, buckets and all. */
  ownServer: boolean;
}> {
  let env = process.env;
  let stop = async (): Promise<void> => undefined;
  let ownServer = false;
  if (!env.DSM_S3_ENDPOINT || !env.DSM_S3_ACCESS_KEY || !env.DSM_S3_SECRET_KEY) {
    process.stderr.write('DSM_S3_* not set: starting the proving ground…\n');
    // Resolved at run time only: the proving ground is test code outside this package's types.
    const spec = '@dify-storage/action-tests/proving-ground/index';
    const { startProvingGround } = (await import(spec)) as {
      startProvingGround(o: {
        owner: string;
      }): Promise<{ env: Record<string, string>; reused: boolean; stop(): Promise<void> }>;
    };
    const ground = await startProvingGround({ owner: 'demo' });
    if (ground.reused) {
      // Its OSD carries earlier runs' writes and deletes, which can slow it.
      serverNote =
        'The proving ground was already running, not fresh: its history can slow RGW; for comparable figures stop it first (`node --conditions=source --import tsx action-tests/bin/proving-ground.ts stop`).';
      process.stderr.write(`${serverNote}\n`);
    }
    env = { ...env, ...ground.env };
    stop = () => ground.stop();
    ownServer = !ground.reused;
  }
  const e = env;
  const target = (bucket: string): S3Target => ({
    endpoint: e.DSM_S3_ENDPOINT!,
    region: e.DSM_S3_REGION ?? 'us-east-1',
    bucket,
    forcePathStyle: true,
    credentials: { accessKeyId: e.DSM_S3_ACCESS_KEY!, secretAccessKey: e.DSM_S3_SECRET_KEY! },
  });
  const ca = e.DSM_S3_CA_FILE && fs.existsSync(e.DSM_S3_CA_FILE) ? e.DSM_S3_CA_FILE : undefined;
  return {
    target,
    tlsTarget:
      e.DSM_S3_TLS_ENDPOINT && ca
        ? (bucket) => ({
            ...target(bucket),
            endpoint: e.DSM_S3_TLS_ENDPOINT!,
            caBundle: fs.readFileSync(ca, 'utf8'),
          })
        : undefined,
    stop,
    ownServer,
  };
}

const results: { section: string; rows: RunResult[] }[] = [];
const checks: { name: string; value: string; target: string; pass: boolean | undefined }[] = [];
const log = (s: string): void =>
  void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

function fmt(n: number, d = 1): string {
  return Number.isFinite(n) ? n.toFixed(d) : '–';
}

function table(section: string, rows: RunResult[]): string {
  const head = [
    'tool',
    'files',
    'MiB',
    'wall s',
    'files/s',
    'MiB/s',
    'CPU s',
    'CPU ms/file',
    'peak RSS MiB',
    'ok',
  ];
  const body = rows.map((r) => [
    r.tool,
    String(r.files),
    fmt(r.bytes / MiB),
    fmt(r.wallS, 2),
    fmt(r.files / r.wallS, 0),
    fmt(r.bytes / MiB / r.wallS),
    fmt(r.cpuS, 2),
    r.files > 0 ? fmt((r.cpuS * 1000) / r.files, 2) : '–',
    r.maxRssMiB !== undefined ? fmt(r.maxRssMiB, 0) : '–',
    r.ok ? 'yes' : `NO ${r.note ?? ''}`.trim(),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    `\n### ${section}`,
    line(head),
    `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

function check(name: string, value: number, op: '>=' | '<=', want: number, digits = 2): void {
  const pass = Number.isFinite(value) ? (op === '>=' ? value >= want : value <= want) : undefined;
  checks.push({ name, value: fmt(value, digits), target: `${op} ${want}`, pass });
}

/** The long scenarios, each with its own table (`--scenario NAME`). */
const SCENARIOS: Record<string, (ctx: ScenarioContext) => Promise<void>> = {
  freeze: freezeScenario,
  mixes: mixesScenario,
  tls: tlsScenario,
  large: largeScenarios,
  '1m': millionScenario,
  scale: scaleScenario,
  walk: walkScenario,
};

async function main(): Promise<void> {
  const scenario = arg('scenario');
  if (scenario !== undefined && !SCENARIOS[scenario])
    throw new Error(`--scenario must be one of ${Object.keys(SCENARIOS).join(', ')}`);
  const { target, tlsTarget, stop, ownServer } = await s3Env();
  if (scenario) {
    try {
      return await SCENARIOS[scenario]!({
        target,
        ...(tlsTarget ? { tlsTarget } : {}),
        log,
        dataDir,
        arg,
      });
    } finally {
      await stop();
    }
  }
  const runId = randomBytes(3).toString('hex');
  // Buckets are emptied at the end of a section, never between timed runs (deletes can keep the OSD
  // compacting for a while, and the next tool would pay for it), and not at all on a server that is
  // discarded at the end.
  const written: S3Target[] = [];
  const freshBucket = async (tool: string): Promise<S3Target> => {
    const t = target(`bench-${runId}-${tool}`);
    await createBucket(t);
    written.push(t);
    return t;
  };
  const emptyBuckets = async (): Promise<void> => {
    const buckets = written.splice(0);
    if (ownServer) return;
    log(`emptying ${buckets.length} bucket(s)…`);
    for (const t of buckets) await rclonePurge(t);
  };
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-bench-state-'));
  const engineOpts = (t: S3Target, ds: Dataset, state: string) => ({
    root: ds.dir,
    target: t,
    stateDir: state,
    ...(concurrency ? { concurrency } : {}),
  });
  log(
    `scale ${scale}: ${smallCount} small files, ${largeCount} × ${largeMiB} MiB, RSS tree ${rssFiles} files; data in ${dataDir}`,
  );
  log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  try {
    // ---- small files -------------------------------------------------------------------------
    log('generating small files…');
    const small = smallFiles(dataDir, `small-${smallCount}`, smallCount, 4, 64);
    log(`small: ${small.files} files, ${(small.bytes / MiB).toFixed(0)} MiB`);
    sizesOf(small.dir, true); // into the page cache, so no tool reads it cold
    const first: RunResult[] = [];
    const again: RunResult[] = [];
    const tools: [
      string,
      (t: S3Target) => Promise<RunResult>,
      (t: S3Target) => Promise<RunResult>,
    ][] = [];
    const st = path.join(stateRoot, 'small');
    tools.push([
      'engine',
      (t) => engineSync('our engine', engineOpts(t, small, st)),
      (t) => engineSync('our engine (no change)', engineOpts(t, small, st)),
    ]);
    if (!skip.has('rclone'))
      tools.push([
        'rclone',
        (t) => rcloneSync(small.dir, t, small.files, small.bytes),
        async (t) => ({
          ...(await rcloneSync(small.dir, t, small.files, small.bytes)),
          tool: 'rclone (no change)',
        }),
      ]);
    if (!skip.has('aws'))
      tools.push([
        'aws',
        (t) => awsSync(small.dir, t, small.files, small.bytes),
        async (t) => ({
          ...(await awsSync(small.dir, t, small.files, small.bytes)),
          tool: 'aws (no change)',
        }),
      ]);
    for (const [name, run1, run2] of tools) {
      const t = await freshBucket(`small-${name}`);
      log(`small: ${name}…`);
      await settle(log);
      const r1 = await run1(t);
      first.push(r1);
      log(`  ${r1.wallS.toFixed(2)} s, ${(r1.files / r1.wallS).toFixed(0)} files/s`);
      await settle(log);
      const r2 = await run2(t);
      r2.files = r2.files || 0;
      again.push({ ...r2, files: small.files, bytes: small.bytes });
      log(`  no change: ${r2.wallS.toFixed(2)} s`);
      if (name === 'engine') {
        const v = await verifyBucket({
          root: small.dir,
          target: t,
          stateDir: st,
          exclude: ['.bench-spec'],
        });
        log(`  verify: ${v.ok ? 'identical' : 'DIFFERENCES'} (${v.counts.matched} matched)`);
        check('engine small: bucket = tree after sync (verify)', v.ok ? 1 : 0, '>=', 1, 0);
        const req = r2.requests ?? {};
        check(
          'no-change re-sync: PUT + HEAD requests',
          (req.PutObject ?? 0) + (req.HeadObject ?? 0) + (req.UploadPart ?? 0),
          '<=',
          0,
          0,
        );
      }
    }
    if (!skip.has('raw')) {
      log('small: raw signed-PUT ceiling…');
      const sizes = sizesOf(small.dir);
      for (const client of ['node:http', 'lean'] as const) {
        const t = await freshBucket(`small-raw-${client.replace(':', '-')}`);
        await settle(log);
        const best = await rawPutCeiling(t, sizes, 64, client);
        first.push(best);
        log(
          `  ${client}: ${best.wallS.toFixed(2)} s, ${(best.files / best.wallS).toFixed(0)} files/s`,
        );
      }
    }
    {
      // Against what drift remains: the engine, first, runs again last into a fresh bucket with a
      // fresh state, and its rates are the mean of both.
      const t = await freshBucket('small-engine-last');
      log('small: engine again, last…');
      await settle(log);
      const last = await engineSync(
        'our engine, run again last',
        engineOpts(t, small, path.join(stateRoot, 'small-last')),
      );
      first.push(last);
      log(`  ${last.wallS.toFixed(2)} s, ${(last.files / last.wallS).toFixed(0)} files/s`);
    }
    results.push({
      section: `Small files: ${small.files} × 4–64 KiB (${(small.bytes / MiB).toFixed(0)} MiB), fresh bucket`,
      rows: first,
    });
    results.push({ section: 'No-change re-sync of the same tree', rows: again });
    /** Mean over the runs of a tool (the engine has two); NaN when it did not run. */
    const meanOf = (name: string, f: (r: RunResult) => number): number => {
      const rs = first.filter((x) => x.tool.startsWith(name));
      return rs.reduce((sum, r) => sum + f(r), 0) / rs.length;
    };
    const rate = (name: string): number => meanOf(name, (r) => r.files / r.wallS);
    const cpuPerFile = (name: string): number => meanOf(name, (r) => (r.cpuS * 1000) / r.files);
    check('small files/s: engine ÷ rclone', rate('our engine') / rate('rclone'), '>=', 1.5);
    check('small files/s: engine ÷ aws', rate('our engine') / rate('aws'), '>=', 3);
    check(
      'small files/s: engine ÷ raw ceiling (node:http, as in the reference)',
      rate('our engine') / rate('raw signed PUT ceiling, node:http'),
      '>=',
      0.8,
    );
    check(
      'small files/s: engine ÷ raw ceiling on our lean HTTP client (stricter)',
      rate('our engine') / rate('raw signed PUT ceiling, lean'),
      '>=',
      0.8,
    );
    check(
      'client CPU per file: engine ÷ rclone',
      cpuPerFile('our engine') / cpuPerFile('rclone'),
      '<=',
      0.6,
    );
    const wallOf = (name: string): number =>
      again.find((x) => x.tool.startsWith(name))?.wallS ?? NaN;
    check('no-change wall: engine ÷ rclone', wallOf('our engine') / wallOf('rclone'), '<=', 0.5);

    // ---- resume --------------------------------------------------------------------------------
    if (!skip.has('resume')) {
      const t = await freshBucket('resume');
      const rs = path.join(stateRoot, 'resume');
      log('resume: SIGKILL at ~50%…');
      await settle(log);
      const killed = await engineSync(
        'engine (killed at ~50%)',
        engineOpts(t, small, rs),
        Math.floor(small.files / 2),
      );
      const rerun = await engineSync('engine (resumed)', engineOpts(t, small, rs));
      const v = await verifyBucket({
        root: small.dir,
        target: t,
        stateDir: rs,
        exclude: ['.bench-spec'],
      });
      const frac = rerun.files / small.files;
      log(
        `  killed: ${String(killed.killed)}, re-run copied ${rerun.files} (${(frac * 100).toFixed(1)}%), verify ${v.ok ? 'identical' : 'DIFFERENCES'}`,
      );
      results.push({ section: 'Resume after SIGKILL at ~50% (re-run)', rows: [rerun] });
      check('resume: re-run uploads (fraction of files)', frac, '<=', 0.55);
      check('resume: bucket = tree after the re-run', v.ok ? 1 : 0, '>=', 1, 0);
    }
    await emptyBuckets();

    // ---- large files ---------------------------------------------------------------------------
    if (!skip.has('large')) {
      log('generating large files…');
      const large = largeFiles(dataDir, `large-${largeCount}x${largeMiB}`, largeCount, largeMiB);
      sizesOf(large.dir, true); // into the page cache, so no tool reads it cold
      const rows: RunResult[] = [];
      const ltools: [string, (t: S3Target) => Promise<RunResult>][] = [
        [
          'engine',
          (t) => engineSync('our engine', engineOpts(t, large, path.join(stateRoot, 'large'))),
        ],
      ];
      if (!skip.has('rclone'))
        ltools.push(['rclone', (t) => rcloneSync(large.dir, t, large.files, large.bytes)]);
      if (!skip.has('aws'))
        ltools.push(['aws', (t) => awsSync(large.dir, t, large.files, large.bytes)]);
      for (const [name, run] of ltools) {
        const t = await freshBucket(`large-${name}`);
        log(`large: ${name}…`);
        await settle(log);
        const r = await run(t);
        rows.push(r);
        log(`  ${r.wallS.toFixed(2)} s, ${(r.bytes / MiB / r.wallS).toFixed(0)} MiB/s`);
      }
      results.push({ section: `Large files: ${large.files} × ${largeMiB} MiB`, rows });
      const mbps = (n: string): number => {
        const r = rows.find((x) => x.tool.startsWith(n));
        return r ? r.bytes / r.wallS : NaN;
      };
      check(
        'large MB/s: engine ÷ best of rclone/aws',
        mbps('our engine') / Math.max(mbps('rclone') || 0, mbps('aws') || 0),
        '>=',
        1.0,
      );
      await emptyBuckets();
    }

    // ---- peak RSS on a big tree ----------------------------------------------------------------
    if (!skip.has('rss')) {
      log(`generating the ${rssFiles}-file tree…`);
      const tree = smallFiles(dataDir, `tree-${rssFiles}`, rssFiles, 1, 4);
      const t = await freshBucket('rss');
      log('rss: engine…');
      await settle(log);
      const r = await engineSync('our engine', engineOpts(t, tree, path.join(stateRoot, 'rss')));
      log(`  ${r.wallS.toFixed(1)} s, peak RSS ${r.maxRssMiB?.toFixed(0)} MiB`);
      results.push({ section: `Peak RSS: ${tree.files}-file tree (1–4 KiB)`, rows: [r] });
      check(`peak RSS MiB on ${tree.files} files`, r.maxRssMiB ?? NaN, '<=', 256, 0);
      await emptyBuckets();
    }
  } finally {
    fs.rmSync(stateRoot, { recursive: true, force: true });
    await stop();
  }

  let out = `# Sync benchmark (${new Date().toISOString()}, scale ${scale})\n${os.cpus().length} × ${os.cpus()[0]?.model}; Node ${process.version}; client and RGW share the machine (other work may be running: load at end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}).\n`;
  out +=
    'CPU: our engine = process.cpuUsage() around the run in its own process (leaves out ~0.5 s of tsx/module loading); rclone and aws = rusage of the whole process (/usr/bin/time); raw ceilings = in-process.\n' +
    (serverNote ? `${serverNote}\n` : '') +
    'Each timed run starts on a quiet machine (≥ 85% idle); the engine runs first and again last, and its ratios use the mean of both.\n';
  for (const r of results) out += `${table(r.section, r.rows)}\n`;
  out += '\n### Targets (issue 4)\n| check | value | target | pass |\n|:--|--:|--:|:--:|\n';
  for (const c of checks)
    out += `| ${c.name} | ${c.value} | ${c.target} | ${c.pass === undefined ? '–' : c.pass ? 'yes' : 'NO'} |\n`;
  process.stdout.write(out);
  const dir = path.join(REPO, 'bench/results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(dir, `sync-${stamp}.md`), out);
  fs.writeFileSync(
    path.join(dir, `sync-${stamp}.json`),
    JSON.stringify({ scale, results, checks }, null, 2),
  );
  log(`written to bench/results/sync-${stamp}.{md,json}`);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
