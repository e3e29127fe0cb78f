import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rcloneEnv, staticKeys } from '@dify-storage/action-tests/proving-ground/s3';
import type { S3Target } from '@dify-storage/s3';
import { S3Transport, type DeltaScan, type SyncToBucketOptions } from '@dify-storage/sync';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunResult {
  tool: string;
  wallS: number;
  /** Client CPU seconds (user + system) of the tool's process tree. */
  cpuS: number;
  maxRssMiB?: number;
  files: number;
  bytes: number;
  ok: boolean;
  note?: string;
  requests?: Record<string, number>;
}

type Timed = Awaited<ReturnType<typeof timed>>;

/** The result row of another tool's run (the dataset's files and bytes: it reports neither). */
function toolResult(tool: string, r: Timed, files: number, bytes: number): RunResult {
  return {
    tool,
    wallS: r.wallS,
    cpuS: r.cpuS,
    maxRssMiB: r.maxRssKiB / 1024,
    files,
    bytes,
    ok: r.code === 0,
    ...(r.code ? { note: r.stderr.slice(-300) } : {}),
  };
}

/** Runs a command under /usr/bin/time; wall from here, CPU and peak RSS from rusage. */
export function timed(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; onLine?: (line: string) => void } = {},
): Promise<{
  wallS: number;
  cpuS: number;
  maxRssKiB: number;
  code: number;
  stderr: string;
  stdout: string;
}> {
  const timeFile = path.join(os.tmpdir(), `dsm-bench-time-${randomBytes(4).toString('hex')}`);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%U %S %M', cmd, ...args], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: REPO,
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      stdout = (stdout + l + '\n').slice(-20000);
      opts.onLine?.(l);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      let cpuS = NaN;
      let maxRssKiB = NaN;
      try {
        const [u, s, m] = fs
          .readFileSync(timeFile, 'utf8')
          .trim()
          .split('\n')
          .pop()!
          .split(' ')
          .map(Number);
        cpuS = u! + s!;
        maxRssKiB = m!;
        fs.rmSync(timeFile, { force: true });
      } catch {
        /* killed before time wrote it */
      }
      resolve({ wallS, cpuS, maxRssKiB, code: code ?? -1, stderr, stdout });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The target's private CA as a file, in the variable the tool reads it from (verification on). */
function caEnv(target: S3Target, name: string): NodeJS.ProcessEnv {
  if (!target.caBundle) return {};
  const file = path.join(
    os.tmpdir(),
    `dsm-bench-ca-${createHash('sha1').update(target.caBundle).digest('hex').slice(0, 12)}.pem`,
  );
  if (!fs.existsSync(file)) fs.writeFileSync(file, target.caBundle);
  return { [name]: file };
}

export async function createBucket(target: S3Target): Promise<void> {
  const t = new S3Transport(target);
  try {
    await t.createBucket();
  } finally {
    t.close();
  }
}

export async function rcloneSync(
  dir: string,
  target: S3Target,
  files: number,
  bytes: number,
): Promise<RunResult> {
  const r = await timed(
    '/usr/bin/rclone',
    [
      'sync',
      dir,
      `ceph:${target.bucket}`,
      '--transfers',
      '16',
      '--checkers',
      '16',
      '--exclude',
      '.bench-spec',
    ],
    { env: { ...rcloneEnv(target), ...caEnv(target, 'RCLONE_CA_CERT') } },
  );
  return toolResult('rclone sync --transfers 16 --checkers 16', r, files, bytes);
}

/**
 * Deletes a benchmark bucket, then asks RGW to collect the deleted data now: its garbage
 * collector waits two hours by default, and a full-scale run writes ~10 GiB, which fills the
 * proving ground's 20 GiB OSD (a full OSD blocks every write). Needs the cluster's ceph.conf:
 * DSM_CEPH_CONF, or the proving ground's when it is the one in use.
 */
export async function rclonePurge(target: S3Target): Promise<void> {
  await timed('/usr/bin/rclone', ['purge', `ceph:${target.bucket}`, '--checkers', '32'], {
    env: { ...rcloneEnv(target), ...caEnv(target, 'RCLONE_CA_CERT') },
  });
  const conf = process.env.DSM_CEPH_CONF ?? path.join(REPO, '.proving-ground/ceph/ceph.conf');
  const port = new URL(target.endpoint!).port;
  const provingGround = [
    process.env.DSM_RGW_PORT ?? '17480',
    process.env.DSM_RGW_TLS_PORT ?? '17443',
  ].includes(port);
  if ((!process.env.DSM_CEPH_CONF && !provingGround) || !fs.existsSync(conf)) return;
  await timed('timeout', ['300', 'radosgw-admin', 'gc', 'process', '--include-all'], {
    env: { ...process.env, CEPH_CONF: conf },
  });
}

export async function awsSync(
  dir: string,
  target: S3Target,
  files: number,
  bytes: number,
): Promise<RunResult> {
  const cfg = path.join(os.tmpdir(), `dsm-bench-aws-${randomBytes(4).toString('hex')}.cfg`);
  fs.writeFileSync(
    cfg,
    `[default]\nregion = ${target.region}\ns3 =\n  addressing_style = path\n  max_concurrent_requests = 10\n`,
    { mode: 0o600 },
  );
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_CONFIG_FILE: cfg,
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_ACCESS_KEY_ID: staticKeys(target).accessKeyId,
    AWS_SECRET_ACCESS_KEY: staticKeys(target).secretAccessKey,
    AWS_DEFAULT_REGION: target.region,
    ...caEnv(target, 'AWS_CA_BUNDLE'),
  };
  try {
    const r = await timed(
      '/usr/bin/aws',
      [
        's3',
        'sync',
        dir,
        `s3://${target.bucket}`,
        '--endpoint-url',
        target.endpoint!,
        '--only-show-errors',
        '--no-progress',
        '--exclude',
        '.bench-spec',
      ],
      { env },
    );
    return toolResult('aws s3 sync (defaults)', r, files, bytes);
  } finally {
    fs.rmSync(cfg, { force: true });
  }
}

interface EngineResult {
  wallMs: number;
  cpuMs: number;
  maxRssKiB: number;
  counts: { copied: number; skipped: number; failed: number; files: number };
  bytes: { copied: number; total: number };
  requests: Record<string, number>;
  failures: unknown[];
  /** A delta run: how it found the changes. */
  delta?: DeltaScan;
}

/** Our engine in a child process; `killAtCopied` SIGKILLs it once that many files are copied. */
export async function engineSync(
  label: string,
  options: SyncToBucketOptions,
  killAtCopied?: number,
  /** Extra node flags for the child (e.g. `--cpu-prof`). */
  nodeArgs: readonly string[] = [],
): Promise<RunResult & { engine?: EngineResult; killed?: boolean }> {
  const args = [
    ...nodeArgs,
    '--conditions=source',
    '--import',
    'tsx',
    path.join(REPO, 'bench/src/engine-child.ts'),
  ];
  const input = JSON.stringify({
    options: { exclude: ['.bench-spec'], ...options },
    progressMs: killAtCopied ? 100 : 2000,
  });
  if (killAtCopied !== undefined) {
    // No /usr/bin/time in between: the SIGKILL must hit the engine itself.
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, args, {
        cwd: REPO,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let killed = false;
      readline.createInterface({ input: child.stdout }).on('line', (l) => {
        const m = JSON.parse(l) as { progress?: { copied: number } };
        if (m.progress && m.progress.copied >= killAtCopied && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
      child.on('error', reject);
      child.on('close', () =>
        resolve({
          tool: label,
          wallS: (performance.now() - t0) / 1000,
          cpuS: NaN,
          files: 0,
          bytes: 0,
          ok: killed,
          killed,
        }),
      );
      child.stdin.end(input);
    });
  }
  let engine: EngineResult | undefined;
  const r = await timed(process.execPath, args, {
    input,
    onLine: (l) => {
      const m = JSON.parse(l) as { result?: EngineResult };
      if (m.result) engine = m.result;
    },
  });
  if (!engine)
    return {
      tool: label,
      wallS: r.wallS,
      cpuS: r.cpuS,
      files: 0,
      bytes: 0,
      ok: false,
      note: r.stderr.slice(-500),
    };
  return {
    tool: label,
    wallS: engine.wallMs / 1000,
    cpuS: engine.cpuMs / 1000,
    maxRssMiB: engine.maxRssKiB / 1024,
    files: engine.counts.copied,
    bytes: engine.bytes.copied,
    ok: engine.counts.failed === 0,
    requests: engine.requests,
    engine,
    note: `process total CPU ${r.cpuS.toFixed(2)} s incl. tsx start`,
  };
}

/**
 * The ceiling: signed PUTs (UNSIGNED-PAYLOAD + Content-MD5) of in-memory bodies with the same
 * sizes, over keep-alive node:http, no disk, no journal, no walk.
 */
export async function rawPutCeiling(
  target: S3Target,
  sizes: number[],
  concurrency: number,
  client: 'node:http' | 'lean',
): Promise<RunResult> {
  const block = randomBytes(Math.max(...sizes) + 4096);
  const t = new S3Transport(target, {
    maxSockets: concurrency + 4,
    useNodeHttp: client === 'node:http',
  });
  let next = 0;
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const i = next++;
          if (i >= sizes.length) return;
          const body = block.subarray(i % 4096, (i % 4096) + sizes[i]!);
          bytes += body.length;
          await t.putObject(`raw/${i}`, body, createHash('md5').update(body).digest(), {
            mtime: '1700000000',
          });
        }
      }),
    );
  } finally {
    t.close();
  }
  const wallS = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return {
    tool: `raw signed PUT ceiling, ${client} (c=${concurrency})`,
    wallS,
    cpuS: (c.user + c.system) / 1e6,
    files: sizes.length,
    bytes,
    ok: true,
  };
}

/** Busy and total CPU ticks of this machine so far (/proc/stat). */
function cpuTicks(): { idle: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = fields.slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  return { idle: n[3]! + n[4]!, total: n.reduce((a, b) => a + b, 0) };
}

/**
 * Waits until the machine is at least 85% idle over two seconds (at most `maxMs`), so that no
 * timed run starts while the previous tool's work (the OSD's background compaction, a straggling
 * process) still holds the CPUs. It cannot remove the server's own swings on a shared VM.
 */
export async function settle(log: (s: string) => void, maxMs = 180_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const a = cpuTicks();
    await new Promise((r) => setTimeout(r, 2000));
    const b = cpuTicks();
    const idle = (b.idle - a.idle) / Math.max(1, b.total - a.total);
    const waited = (Date.now() - started) / 1000;
    if (idle >= 0.85) {
      if (waited > 2.5) log(`  (waited ${waited.toFixed(0)} s for a quiet machine)`);
      return;
    }
    if (Date.now() - started >= maxMs) {
      log(
        `  the machine did not quiet down in ${waited.toFixed(0)} s (idle ${(idle * 100).toFixed(0)}%): figures may be noisy`,
      );
      return;
    }
  }
}

/** File sizes of a dataset, in walk order (for the ceiling); `read`: read each file too. */
export function sizesOf(dir: string, read = false): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name !== '.bench-spec')
        out.push(read ? fs.readFileSync(p).length : fs.statSync(p).size);
    }
  };
  walk(dir);
  return out;
}
