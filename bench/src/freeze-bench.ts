// `--scenario freeze` (issue 17 §4): the final delta's time as a function of the tree's size.
// For each size: a Dify-shaped tree, the state of a complete copy seeded (seed.ts), 1,000 changes
// over ≥ 100 tenant directories (new files, new tenants, private.pem rewritten in place, keyword
// files saved again), then the delta in its own process (wall, CPU, peak RSS), every changed file
// checked in the bucket (size and md5 = ETag), and the old way's floor (a full walk + lstat of the
// tree, which the delta did before, without its listing). Self-cleaning: tree, state and bucket.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import { S3Transport, walkTree } from '@dify-storage/sync';
import { applyChanges, difyTree, SPEC_FILE } from './dify-tree.js';
import {
  check,
  checksTable,
  freshTarget,
  machineLine,
  mdTable,
  saveResults,
  sleep,
  type Check,
  type ScenarioContext,
} from './scenario.js';
import { seedState } from './seed.js';
import { engineSync, rclonePurge } from './tools.js';

const EXCLUDE = [SPEC_FILE, '.bench-bytes'];
/** The delta's default margin: directories changed less than this before the seed are listed. */
const MARGIN_MS = 60_000;

interface SizeResult {
  files: number;
  deltaWallS: number;
  deltaCpuS: number;
  rssMiB: number;
  copied: number;
  failed: number;
  dirsListed: number;
  dirsTotal: number;
  filesStated: number;
  verified: number;
  changes: number;
  fullWalkS: number;
  fullWalkCpuS: number;
  generateS: number;
  seedS: number;
}

/** HEADs every changed file's object: its size and ETag (md5) must be the file's. */
async function verifyChanged(root: string, target: S3Target, rels: string[]): Promise<number> {
  const t = new S3Transport(target);
  let ok = 0;
  try {
    for (const rel of rels) {
      const body = fs.readFileSync(path.join(root, rel));
      const head = await t.headObject(rel);
      if (
        head &&
        head.size === body.length &&
        head.etag === createHash('md5').update(body).digest('hex')
      )
        ok++;
    }
  } finally {
    t.close();
  }
  return ok;
}

/** The floor of a delta that walks and lstats the whole tree (before this change). */
async function fullWalk(root: string): Promise<{ wallS: number; cpuS: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  for await (const e of walkTree(root)) if (e.kind === 'file') n++;
  const cpu = process.cpuUsage(cpu0);
  void n;
  return { wallS: (performance.now() - t0) / 1000, cpuS: (cpu.user + cpu.system) / 1e6 };
}

async function oneSize(
  ctx: ScenarioContext,
  files: number,
  tenants: number,
  changes: number,
  spread: number,
): Promise<SizeResult> {
  const { log } = ctx;
  const t0 = performance.now();
  log(`freeze ${files}: generating the tree (${tenants} tenants)…`);
  const tree = difyTree(ctx.dataDir, files, tenants, log);
  const generateS = (performance.now() - t0) / 1000;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-bench-freeze-'));
  const target = await freshTarget(ctx, `freeze-${files}`);
  try {
    // An old tree: the bulk copy starts more than the margin after the last write.
    const wait =
      MARGIN_MS + 1000 - (Date.now() - fs.statSync(path.join(tree.dir, SPEC_FILE)).mtimeMs);
    if (wait > 0) {
      log(`  waiting ${(wait / 1000).toFixed(0)} s so the tree is older than the delta's margin…`);
      await sleep(wait);
    }
    log(`freeze ${files}: seeding the state of a complete copy…`);
    const s0 = performance.now();
    await seedState(tree.dir, target, stateDir, log);
    const seedS = (performance.now() - s0) / 1000;
    await sleep(100);
    const changed = applyChanges(tree, changes, spread);
    log(`freeze ${files}: ${changed.length} changes; the delta…`);
    const r = await engineSync(`delta at ${files}`, {
      root: tree.dir,
      target,
      stateDir,
      mode: 'delta',
      exclude: EXCLUDE,
    });
    const d = r.engine?.delta;
    log(
      `  ${r.wallS.toFixed(2)} s wall, ${r.cpuS.toFixed(2)} s CPU; ${d ? JSON.stringify({ ...d, namedMissing: undefined }) : 'no scan'}`,
    );
    const verified = await verifyChanged(tree.dir, target, changed);
    log(`freeze ${files}: the old way's floor (full walk + lstat)…`);
    const walk = await fullWalk(tree.dir);
    return {
      files,
      deltaWallS: r.wallS,
      deltaCpuS: r.cpuS,
      rssMiB: r.maxRssMiB ?? NaN,
      copied: r.engine?.counts.copied ?? 0,
      failed: r.engine?.counts.failed ?? -1,
      dirsListed: d?.dirsListed ?? NaN,
      dirsTotal: d ? d.dirsKnown + d.dirsNew : NaN,
      filesStated: d?.filesStated ?? NaN,
      verified,
      changes: changed.length,
      fullWalkS: walk.wallS,
      fullWalkCpuS: walk.cpuS,
      generateS,
      seedS,
    };
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
    log(`freeze ${files}: cleaning up…`);
    // The tree was changed: never reused.
    fs.rmSync(tree.dir, { recursive: true, force: true });
    await rclonePurge(target).catch(() => undefined);
  }
}

export async function freezeScenario(ctx: ScenarioContext): Promise<void> {
  const sizes = (ctx.arg('freeze-sizes') ?? '100000,1000000').split(',').map(Number);
  const tenants = Number(ctx.arg('tenants') ?? 300);
  const started = machineLine();
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await oneSize(ctx, n, tenants, 1000, 100));
  const checks: Check[] = [];
  for (const r of results) {
    checks.push(check(`delta wall s at ${r.files} files`, r.deltaWallS, '<=', 10));
    checks.push(
      check(
        `changed files copied and proven (size + md5) at ${r.files}`,
        r.verified,
        '>=',
        r.changes,
        0,
      ),
    );
  }
  if (results.length >= 2) {
    const small = results[0]!;
    const big = results[results.length - 1]!;
    checks.push(
      check(
        `delta wall ratio ${big.files} / ${small.files}`,
        big.deltaWallS / small.deltaWallS,
        '<=',
        1.5,
      ),
    );
  }
  const md = [
    `# Freeze-window delta (${new Date().toISOString()})`,
    `Start: ${started}. End: ${machineLine()}.`,
    '1,000 changes per size over ≥ 100 tenant directories: new files, new tenants, private.pem rewritten in place, keyword files deleted and saved again. The delta runs in its own process (CPU = process.cpuUsage, RSS = maxRSS); "full walk" is the floor of the earlier delta (walk + lstat of every file, without its bucket listing), in-process.',
    '',
    mdTable(
      [
        'files',
        'delta wall s',
        'delta CPU s',
        'peak RSS MiB',
        'dirs listed / total',
        "files stat'ed",
        'copied',
        'proven',
        'full walk s (CPU s)',
        'generate s',
        'seed s',
      ],
      results.map((r) => [
        r.files,
        r.deltaWallS.toFixed(2),
        r.deltaCpuS.toFixed(2),
        r.rssMiB.toFixed(0),
        `${r.dirsListed} / ${r.dirsTotal}`,
        r.filesStated,
        r.copied,
        `${r.verified} / ${r.changes}`,
        `${r.fullWalkS.toFixed(1)} (${r.fullWalkCpuS.toFixed(1)})`,
        r.generateS.toFixed(0),
        r.seedS.toFixed(0),
      ]),
    ),
    '',
    checksTable(checks),
    '',
  ].join('\n');
  saveResults('freeze', md, { results, checks }, ctx.log);
}
