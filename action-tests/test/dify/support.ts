import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDbPoolFromUrl } from '../../src/dify/db.js';
import { difyEmulatorCommand } from '../../src/dify/command.js';

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through jest (the proving ground exports it)`);
  return v;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  /** DB_* variables as a Dify pod gets them. */
  difyEnv: Record<string, string>;
  drop(): Promise<void>;
}

/** A fresh database on the proving ground's PostgreSQL (unique per call). */
export async function createTestDatabase(prefix = 'dify_t'): Promise<TestDatabase> {
  const admin = new URL(env('DSM_PG_URL'));
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  const pool = createDbPoolFromUrl(url.toString(), 4);
  return {
    name,
    url: url.toString(),
    pool,
    difyEnv: {
      DB_USERNAME: decodeURIComponent(url.username),
      DB_PASSWORD: decodeURIComponent(url.password),
      DB_HOST: url.hostname,
      DB_PORT: url.port || '5432',
      DB_DATABASE: name,
    },
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: admin.toString() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * REDIS_* for one emulator install. The Celery queue name is fixed ("dataset"), so parallel
 * suites get distinct Redis databases (1–15, handed out round-robin by a counter in db 0).
 */
export async function redisEnv(): Promise<Record<string, string>> {
  const url = new URL(env('DSM_REDIS_URL'));
  const r = new Redis({ host: url.hostname, port: Number(url.port), db: 0, lazyConnect: true });
  await r.connect();
  const n = await r.incr('dsm:dify-emulator-test-db');
  r.disconnect();
  const db = ((n - 1) % 15) + 1;
  const wipe = new Redis({ host: url.hostname, port: Number(url.port), db, lazyConnect: true });
  await wipe.connect();
  await wipe.del('dataset', 'db_upgrade_lock');
  wipe.disconnect();
  return { REDIS_HOST: url.hostname, REDIS_PORT: url.port, REDIS_DB: String(db) };
}

export function s3Env(bucket: string): Record<string, string> {
  return {
    STORAGE_TYPE: 's3',
    S3_ENDPOINT: env('DSM_S3_ENDPOINT'),
    S3_BUCKET_NAME: bucket,
    S3_ACCESS_KEY: env('DSM_S3_ACCESS_KEY'),
    S3_SECRET_KEY: env('DSM_S3_SECRET_KEY'),
    S3_REGION: env('DSM_S3_REGION'),
    S3_USE_AWS_MANAGED_IAM: 'false',
  };
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface RunningEmulator {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Runs `main.ts api|worker` as a pod would: only env (no inherited secrets) and a cwd. */
export function spawnEmulator(
  role: 'api' | 'worker',
  cwd: string,
  vars: Record<string, string>,
): RunningEmulator {
  const { command, args } = difyEmulatorCommand(role);
  const proc = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Starts an api and waits for /health. */
export async function startApi(
  cwd: string,
  vars: Record<string, string>,
): Promise<RunningEmulator & { base: string }> {
  const port = await freePort();
  const emu = spawnEmulator('api', cwd, { DIFY_PORT: String(port), ...vars });
  const base = `http://127.0.0.1:${port}`;
  const early = emu.exited.then((code) => {
    throw new Error(
      `api exited with ${code} before it was healthy:\n${emu.stderr()}\n${emu.stdout()}`,
    );
  });
  early.catch(() => undefined);
  await Promise.race([
    waitFor('api /health', async () => (await fetch(`${base}/health`)).ok, 30_000),
    early,
  ]);
  return { ...emu, base };
}

export async function startWorker(
  cwd: string,
  vars: Record<string, string>,
): Promise<RunningEmulator> {
  const emu = spawnEmulator('worker', cwd, vars);
  await waitFor(
    'worker ready',
    async () => {
      if (emu.proc.exitCode !== null) throw new Error(`worker exited: ${emu.stderr()}`);
      return emu.stdout().includes(' ready.');
    },
    30_000,
  );
  return emu;
}

/** Reads a response body fully; reports whether the stream broke before its end. */
export async function readAll(res: Response): Promise<{ body: Buffer; broken: boolean }> {
  const chunks: Buffer[] = [];
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
    return { body: Buffer.concat(chunks), broken: false };
  } catch {
    return { body: Buffer.concat(chunks), broken: true };
  }
}
