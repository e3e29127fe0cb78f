// CPU per file by phase of a bulk copy: runs the engine on a mix under `node --cpu-prof` and
// sorts every sample of the profile into the phase its stack belongs to.
// Usage: node --conditions=source --import tsx bench/src/profile.ts [--mix a|b|c] [--files N]
//   [--concurrency N] [--tls] [--no-profile: CPU and peak RSS only] (DSM_S3_* from the proving ground: `eval "$(… proving-ground.ts env)"`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import { mixFiles, MIX_LABEL, type Mix } from './datasets.js';
import { createBucket, engineSync, sizesOf } from './tools.js';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export const PHASES = [
  'walk/lstat',
  'listing + merge-join',
  'open/read',
  'MD5 + SHA-256',
  'signing',
  'request write',
  'response parse',
  'journal',
  'progress',
  'engine glue (promises, pool)',
  'GC',
  'other',
] as const;
export type Phase = (typeof PHASES)[number];

const has = (stack: CallFrame[], f: (c: CallFrame) => boolean): boolean => stack.some(f);
const inFile = (name: string) => (c: CallFrame) => c.url.endsWith(name);
const fn =
  (...names: string[]) =>
  (c: CallFrame) =>
    names.includes(c.functionName);

/** The phase of one sampled stack (leaf first); the first rule that matches wins. */
export function phaseOf(stack: CallFrame[]): Phase | undefined {
  const leaf = stack[0]!;
  if (leaf.functionName === '(idle)' || leaf.functionName === '(root)') return undefined;
  if (leaf.functionName === '(garbage collector)') return 'GC';
  if (has(stack, inFile('/sigv4.ts'))) return 'signing';
  if (has(stack, inFile('/state.ts'))) return 'journal';
  if (has(stack, inFile('/report.ts'))) return 'progress';
  if (
    has(stack, inFile('/xml.ts')) ||
    (has(stack, fn('onData', 'finish')) && has(stack, inFile('/http1.ts')))
  )
    return 'response parse';
  if (has(stack, inFile('/http1.ts')) || has(stack, (c) => c.url.includes('node:net')))
    return 'request write';
  if (has(stack, (c) => c.url.includes('internal/crypto/hash'))) return 'MD5 + SHA-256';
  if (has(stack, fn('readSmall', 'readFullySync', 'openEntrySync', 'fstatSync', 'closeSync')))
    return 'open/read';
  if (has(stack, inFile('/walk.ts')) || has(stack, inFile('/safe-fs.ts'))) return 'walk/lstat';
  if (has(stack, inFile('/march.ts')) || has(stack, inFile('/listing.ts')))
    return 'listing + merge-join';
  if (has(stack, (c) => /\/packages\/sync\/src\//.test(c.url) || c.url.includes('fileio')))
    return 'engine glue (promises, pool)';
  if (leaf.functionName === '(program)') return 'other';
  return 'engine glue (promises, pool)';
}

/** Milliseconds of CPU per phase in a .cpuprofile. */
export function phaseBreakdown(profile: CpuProfile): Map<Phase, number> {
  const parent = new Map<number, ProfileNode>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n);
  }
  const memo = new Map<number, Phase | undefined>();
  const phaseOfNode = (id: number): Phase | undefined => {
    if (memo.has(id)) return memo.get(id);
    const stack: CallFrame[] = [];
    for (let n: ProfileNode | undefined = byId.get(id); n; n = parent.get(n.id))
      stack.push(n.callFrame);
    const p = phaseOf(stack);
    memo.set(id, p);
    return p;
  };
  const out = new Map<Phase, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const p = phaseOfNode(profile.samples[i]!);
    if (p) out.set(p, (out.get(p) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const env = process.env;
  if (!env.DSM_S3_ENDPOINT || !env.DSM_S3_ACCESS_KEY || !env.DSM_S3_SECRET_KEY)
    throw new Error('DSM_S3_* not set: start the proving ground and export its env');
  const mix = (arg('mix') ?? 'a') as Mix;
  const files = Number(arg('files') ?? 5000);
  const endpoint = arg('tls') ? env.DSM_S3_TLS_ENDPOINT! : env.DSM_S3_ENDPOINT;
  const ds = mixFiles(path.join(os.tmpdir(), 'dsm-bench-data'), mix, files);
  sizesOf(ds.dir, true);
  const target: S3Target = {
    endpoint,
    region: env.DSM_S3_REGION ?? 'us-east-1',
    bucket: `prof-${mix}-${Date.now().toString(36)}`,
    forcePathStyle: true,
    credentials: { accessKeyId: env.DSM_S3_ACCESS_KEY, secretAccessKey: env.DSM_S3_SECRET_KEY },
    ...(arg('tls') ? { caBundle: fs.readFileSync(env.DSM_S3_CA_FILE!, 'utf8') } : {}),
  };
  await createBucket(target);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-prof-'));
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-prof-state-'));
  const conc = arg('concurrency');
  const r = await engineSync(
    'engine',
    { root: ds.dir, target, stateDir: state, ...(conc ? { concurrency: Number(conc) } : {}) },
    undefined,
    process.argv.includes('--no-profile')
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '500'],
  );
  if (process.argv.includes('--no-profile')) {
    process.stdout.write(
      `${MIX_LABEL[mix]}: ${r.files} files, wall ${r.wallS.toFixed(2)} s, CPU ${r.cpuS.toFixed(2)} s, peak RSS ${r.maxRssMiB?.toFixed(0)} MiB\n`,
    );
    return;
  }
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
  const phases = phaseBreakdown(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  const total = [...phases.values()].reduce((a, b) => a + b, 0);
  let out = `${MIX_LABEL[mix]}: ${r.files} files, wall ${r.wallS.toFixed(2)} s, CPU ${r.cpuS.toFixed(2)} s (${((r.cpuS * 1e6) / r.files).toFixed(0)} µs/file), peak RSS ${r.maxRssMiB?.toFixed(0)} MiB (with the profiler); profile ${dir}/${file}\n`;
  out += '| phase | CPU ms | µs/file | share |\n|:--|--:|--:|--:|\n';
  for (const p of PHASES) {
    const ms = phases.get(p) ?? 0;
    out += `| ${p} | ${ms.toFixed(0)} | ${((ms * 1000) / r.files).toFixed(0)} | ${((ms / total) * 100).toFixed(1)}% |\n`;
  }
  process.stdout.write(out);
  fs.rmSync(state, { recursive: true, force: true });
}

if (process.argv[1]?.endsWith('profile.ts'))
  main().catch((e: unknown) => {
    process.stderr.write(`profile failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
