// `--scenario scale` (issue 17 §3, the parts that need the bucket to hold the tree, at 100k files
// by default): on a Dify-shaped tree of 0–4 KiB files,
// - the no-change re-sync of our engine (journal and bucket complete: 0 PUT, 0 HEAD) against
//   rclone's no-change `sync` of the same tree into its own bucket;
// - SIGKILL at 50% of the files and a resumed run (how many files it uploads again);
// - rollback's reverse sync with 1% new objects in the bucket, into the tree as the restore left
//   it, against the backup manifest (backup order), against `rclone copy` of the same bucket into
//   the same tree: `--size-only` (finds the new objects by listing alone) and by default (size and
//   modification time, one HEAD per object).
// `--skip resume,reverse,rclone,rclone-sync,rclone-default` leaves parts out; `--reverse-runs N`
// (default 2) runs ours and rclone --size-only back to back N times, best wall kept.
// Self-cleaning: buckets, state, manifest and tree are removed. `--bucket NAME` keeps our bucket
// (that name), its sync state and the tree for the next run, which then uploads only what is
// missing (so the reverse step can be iterated on in about a minute); `--bucket NAME --clean 1`
// removes them at the end.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { comparePaths } from '../../packages/common/src/path-order.js';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket, verifyBucket, walkTree } from '@dify-storage/sync';
import { difyTree, SPEC_FILE, type DifyTree } from './dify-tree.js';
import { rcloneCopy, reverseSync, reverseTable, type ReverseRow } from './million-bench.js';
import * as sc from './scenario.js';
import { engineSync, rclonePurge, rcloneSync, settle, sizesOf, type RunResult } from './tools.js';

const EXCLUDE = [SPEC_FILE];

/** A backup manifest of the tree as the backup writes it: file records in comparePaths order. */
async function manifestOf(tree: DifyTree, file: string): Promise<void> {
  const records: { path: string; type: string; size: number; sha256: string }[] = [];
  for await (const e of walkTree(tree.dir)) {
    if (e.kind !== 'file' || e.rel === SPEC_FILE) continue;
    const body = fs.readFileSync(e.abs);
    const sha256 = createHash('sha256').update(body).digest('hex');
    records.push({ path: e.rel, type: 'file', size: body.length, sha256 });
  }
  records.sort((a, b) => comparePaths(a.path, b.path));
  fs.writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

/** `count` new files under the tree's tenants, in a tree of their own (what Dify wrote on S3). */
function newObjects(tree: DifyTree, dir: string, count: number): string[] {
  const rels: string[] = [];
  for (let i = 0; i < count; i++) {
    const t = tree.tenants[(i * 7) % tree.tenants.length]!;
    const rel = `upload_files/${t}/${createHash('md5').update(`new-${i}`).digest('hex')}.pdf`;
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(
      path.join(dir, rel),
      createHash('sha512')
        .update(rel)
        .digest()
        .subarray(0, i % 64),
    );
    rels.push(rel);
  }
  return rels;
}

function row(r: RunResult): (string | number)[] {
  const req = r.requests ?? {};
  return [
    r.tool,
    r.wallS.toFixed(2),
    r.cpuS.toFixed(2),
    Number.isFinite(r.cpuS) && r.files ? ((r.cpuS * 1e6) / r.files).toFixed(0) : '–',
    r.maxRssMiB === undefined ? '–' : r.maxRssMiB.toFixed(0),
    r.requests ? String(req.PutObject ?? 0) : '–',
    r.requests ? String(req.HeadObject ?? 0) : '–',
    r.requests ? String(req.ListObjectsV2 ?? 0) : '–',
  ];
}

export async function scaleScenario(ctx: sc.ScenarioContext): Promise<void> {
  const { log } = ctx;
  const files = Number(ctx.arg('scale-files') ?? 100_000);
  const tenants = Number(ctx.arg('tenants') ?? 300);
  const settleMax = Number(ctx.arg('settle-max') ?? 20) * 1000;
  const skip = new Set((ctx.arg('skip') ?? '').split(','));
  const reverseRuns = Number(ctx.arg('reverse-runs') ?? 2);
  const kept = keptBucket(ctx);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-bench-scale-'));
  const tree = difyTree(ctx.dataDir, files, tenants, log);
  const buckets: S3Target[] = [];
  const fresh = async (tag: string): Promise<S3Target> => {
    const t = await sc.freshTarget(ctx, tag);
    buckets.push(t);
    return t;
  };
  const started = sc.machineLine();
  const checks: sc.Check[] = [];
  const md: string[] = [];
  try {
    sizesOf(tree.dir, true); // page cache: no tool reads the tree cold
    const opts = (target: S3Target, stateDir: string) => ({
      root: tree.dir,
      target,
      stateDir,
      exclude: EXCLUDE,
    });
    // 1. No-change re-sync.
    const ours = kept ? await kept.target() : await fresh('scale-ours');
    const stOurs = kept?.state ?? path.join(work, 'state-ours');
    log(`scale: our first upload of ${tree.files} files…`);
    const up = await engineSync('our engine, first upload', opts(ours, stOurs));
    log(`  ${up.wallS.toFixed(1)} s, ok ${String(up.ok)}`);
    await settle(log, settleMax);
    const again = await engineSync('our engine, no change', opts(ours, stOurs));
    again.files = tree.files;
    const rows: RunResult[] = [up, again];
    if (!skip.has('rclone') && !skip.has('rclone-sync')) {
      const theirs = await fresh('scale-rclone');
      log('scale: rclone sync (first upload)…');
      await settle(log, settleMax);
      const rUp = await rcloneSync(tree.dir, theirs, tree.files, tree.bytes);
      log(`  ${rUp.wallS.toFixed(1)} s`);
      await settle(log, settleMax);
      const rAgain = await rcloneSync(tree.dir, theirs, tree.files, tree.bytes);
      rows.push(rUp, { ...rAgain, tool: 'rclone sync, no change' });
      checks.push(sc.check('no-change wall: ours ÷ rclone', again.wallS / rAgain.wallS, '<=', 0.5));
    }
    const req = again.requests ?? {};
    checks.push(
      sc.check('no-change re-sync: PUT', req.PutObject ?? 0, '<=', 0, 0),
      sc.check('no-change re-sync: HEAD', req.HeadObject ?? 0, '<=', 0, 0),
      sc.check('no-change re-sync: peak RSS MiB', again.maxRssMiB ?? NaN, '<=', 256, 0),
    );
    md.push(
      `### Upload and no-change re-sync: ${tree.files} files, ${(tree.bytes / 2 ** 20).toFixed(0)} MiB, ${tenants} tenants`,
      '',
      sc.mdTable(
        ['run', 'wall s', 'CPU s', 'CPU µs/file', 'peak RSS MiB', 'PUT', 'HEAD', 'LIST'],
        rows.map(row),
      ),
      '',
    );
    // 2. Kill at 50% and resume.
    if (!skip.has('resume')) md.push(...(await resumeRun(tree, work, fresh, checks, log)));
    // 3. Rollback's reverse sync with 1% new objects.
    if (!skip.has('reverse'))
      md.push(
        ...(await reverseRun(tree, ours, stOurs, work, skip, reverseRuns, settleMax, checks, log)),
      );
    const out = [
      `# Issue 17 §3 at ${tree.files} files (${new Date().toISOString()})`,
      `Start: ${started}. End: ${sc.machineLine()}.`,
      'Our wall/CPU/RSS: from inside the engine process (without ~0.5 s of tsx start); rclone: whole process (rusage).',
      '',
      ...md,
      sc.checksTable(checks),
      '',
    ].join('\n');
    sc.saveResults('scale', out, { files: tree.files, checks }, log);
  } finally {
    for (const t of buckets) await rclonePurge(t).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
    // A kept bucket keeps its tree (and state) until the run given `--clean`.
    if (!kept || kept.clean) {
      await kept?.remove();
      if (!ctx.arg('keep-tree')) fs.rmSync(tree.dir, { recursive: true, force: true });
    }
  }
}

/** `--bucket NAME`: our bucket and its sync state, kept between runs (removed with `--clean 1`). */
function keptBucket(ctx: sc.ScenarioContext) {
  const name = ctx.arg('bucket');
  if (!name) return undefined;
  const target = ctx.target(name);
  const state = path.join(ctx.dataDir, `scale-state-${name}`);
  return {
    state,
    clean: ctx.arg('clean') !== undefined,
    target: (): Promise<S3Target> => sc.keptTarget(ctx, name),
    remove: async (): Promise<void> => {
      await rclonePurge(target).catch(() => undefined);
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

async function resumeRun(
  tree: DifyTree,
  work: string,
  fresh: (tag: string) => Promise<S3Target>,
  checks: sc.Check[],
  log: (s: string) => void,
): Promise<string[]> {
  const t = await fresh('scale-resume');
  const st = path.join(work, 'state-resume');
  const opts = { root: tree.dir, target: t, stateDir: st, exclude: EXCLUDE };
  log('scale: SIGKILL at 50%…');
  const killed = await engineSync('killed', opts, Math.floor(tree.files / 2));
  const rerun = await engineSync('our engine, resumed after SIGKILL at 50%', opts);
  const v = await verifyBucket({ root: tree.dir, target: t, stateDir: st, exclude: EXCLUDE });
  const frac = rerun.files / tree.files;
  log(`  killed ${String(killed.killed)}; re-run copied ${rerun.files}; verify ${String(v.ok)}`);
  checks.push(
    sc.check('resume: files uploaded again ÷ files', frac, '<=', 0.55),
    sc.check('resume: bucket = tree after the re-run (verify)', v.ok ? 1 : 0, '>=', 1, 0),
  );
  return [
    `### SIGKILL once ${Math.floor(tree.files / 2)} files are uploaded, then the same run again`,
    '',
    `The resumed run uploaded ${rerun.files} of ${tree.files} files (${(frac * 100).toFixed(1)}%) in ${rerun.wallS.toFixed(1)} s; verify against the tree afterwards: ${v.ok ? 'identical' : 'DIFFERENCES'}.`,
    '',
  ];
}

async function reverseRun(
  tree: DifyTree,
  bucket: S3Target,
  stateDir: string,
  work: string,
  skip: Set<string>,
  runs: number,
  settleMax: number,
  checks: sc.Check[],
  log: (s: string) => void,
): Promise<string[]> {
  const count = Math.round(tree.files / 100);
  log(`scale: the backup manifest; ${count} new objects…`);
  const manifest = path.join(work, 'manifest.ndjson');
  await manifestOf(tree, manifest);
  const newDir = path.join(work, 'new');
  const rels = newObjects(tree, newDir, count);
  await syncToBucket({ root: newDir, target: bucket });
  const clean = (): void => {
    for (const rel of rels) fs.rmSync(path.join(tree.dir, rel), { force: true });
  };
  // Back to back, `runs` times each (best wall kept): the machine's load moves wall times.
  const best = (a: ReverseRow | undefined, b: ReverseRow): ReverseRow =>
    a && a.wallS <= b.wallS ? a : b;
  let ours: ReverseRow | undefined;
  let byRead: ReverseRow | undefined;
  let sizeOnly: ReverseRow | undefined;
  let restored = 0;
  for (let run = 0; run < runs; run++) {
    await settle(log, settleMax);
    log("scale: our reverse sync (the bulk copy's state)…");
    const label = "our reverse sync (rollback: the bulk copy's state)";
    ours = best(ours, await reverseSync(bucket, tree.dir, manifest, label, stateDir));
    restored = rels.filter((r) => fs.existsSync(path.join(tree.dir, r))).length;
    clean();
    await settle(log, settleMax);
    log('scale: our reverse sync (no state: reads the restored files)…');
    const read = 'our reverse sync (no state: reads the restored files)';
    byRead = best(byRead, await reverseSync(bucket, tree.dir, manifest, read));
    clean();
    if (skip.has('rclone')) continue;
    await settle(log, settleMax);
    log('scale: rclone copy --size-only…');
    const rcLabel = 'rclone copy --size-only (listing alone)';
    sizeOnly = best(sizeOnly, await rcloneCopy(bucket, tree.dir, ['--size-only'], rcLabel));
    clean();
  }
  let byDefault: ReverseRow | undefined;
  if (!skip.has('rclone') && !skip.has('rclone-default')) {
    await settle(log, settleMax);
    log('scale: rclone copy (size and modtime)…');
    byDefault = await rcloneCopy(bucket, tree.dir, [], 'rclone copy (size + modtime: HEAD each)');
    clean();
  }
  const rows = [ours!, sizeOnly, byRead!, byDefault].filter((r): r is ReverseRow => !!r);
  checks.push(
    sc.check('reverse sync: new objects restored', restored, '>=', count, 0),
    sc.check('reverse sync: peak RSS MiB', ours!.rssMiB, '<=', 256, 0),
    sc.check('reverse sync: HEAD requests', ours!.requests?.HeadObject ?? 0, '<=', 0, 0),
  );
  if (sizeOnly)
    checks.push(
      sc.check(
        `reverse sync wall ÷ rclone copy --size-only (best of ${runs})`,
        ours!.wallS / sizeOnly.wallS,
        '<=',
        0.5,
      ),
    );
  if (byDefault)
    checks.push(
      sc.check(
        'reverse sync wall ÷ rclone copy (default)',
        ours!.wallS / byDefault.wallS,
        '<=',
        0.5,
      ),
    );
  return [
    `### Rollback's reverse sync: ${tree.files} objects from the backup + ${count} new, into the restored tree`,
    '',
    reverseTable(rows),
    '',
  ];
}
