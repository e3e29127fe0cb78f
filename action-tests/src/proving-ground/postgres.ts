import { readdirSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, stopProcess, waitFor } from './process.js';

export interface Postgres {
  /** Superuser URL of the `dify` database. */
  url: string;
  adminUrl: string;
  stop(): Promise<void>;
}

/** The newest PostgreSQL installed from Debian/Ubuntu packages (15 on bookworm, 16 on noble). */
function pgBin(): string {
  const versions = readdirSync('/usr/lib/postgresql', { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^\d+$/.test(d.name))
    .map((d) => Number(d.name))
    .sort((a, b) => b - a);
  if (versions.length === 0)
    throw new Error('PostgreSQL is not installed: apt-get install postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

async function asPostgres(args: string[], timeoutMs = 60_000): Promise<string> {
  // PostgreSQL refuses to run as root; CI and dev machines run as root.
  return run('runuser', ['-u', 'postgres', '--', ...args], { timeoutMs });
}

/**
 * Where the cluster lives: a 0700 directory owned by the postgres user outside the checkout,
 * since a checkout under /root (mode 0700) is out of that user's reach. Its path is kept in
 * `<stateDir>/postgres.dir` so that a later stop finds it.
 */
export async function makePostgresHome(stateDir: string): Promise<string> {
  const home = await mkdtemp(path.join(tmpdir(), 'dify-storage-pg-'));
  await writeFile(path.join(stateDir, 'postgres.dir'), home);
  const { uid, gid } = await userIds('postgres');
  await chown(home, uid, gid);
  await chmod(home, 0o700);
  return home;
}

/** Stops the cluster a state directory points at and removes its directory. */
export async function removePostgresHome(stateDir: string): Promise<void> {
  const home = await readFile(path.join(stateDir, 'postgres.dir'), 'utf8').catch(() => undefined);
  if (!home || !path.basename(home).startsWith('dify-storage-pg-')) return;
  await stopPostgres(path.join(home, 'data'));
  await rm(home, { recursive: true, force: true });
}

export async function stopPostgres(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (pid > 0) await stopProcess(pid, 'postgres');
}

/** Starts a throw-away PostgreSQL 15 cluster on 127.0.0.1 with fsync off (test data only). */
export async function startPostgres(o: {
  dataDir: string;
  port: number;
  password: string;
}): Promise<Postgres> {
  const BIN = pgBin();
  await mkdir(o.dataDir, { recursive: true });
  const { uid, gid } = await userIds('postgres');
  await chown(o.dataDir, uid, gid);
  const pwFile = path.join(path.dirname(o.dataDir), 'pgpass.tmp');
  await run('sh', ['-c', `umask 077; printf '%s' "$PW" > "$F" && chown postgres "$F"`], {
    env: { ...process.env, PW: o.password, F: pwFile },
  });
  await asPostgres([
    `${BIN}/initdb`,
    '-D',
    o.dataDir,
    '-U',
    'postgres',
    '--auth=scram-sha-256',
    `--pwfile=${pwFile}`,
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
  ]);
  await run('rm', ['-f', pwFile]);
  const opts = `-c listen_addresses=127.0.0.1 -c port=${o.port} -c unix_socket_directories=${o.dataDir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  await asPostgres([
    `${BIN}/pg_ctl`,
    '-D',
    o.dataDir,
    '-o',
    opts,
    '-l',
    path.join(o.dataDir, 'server.log'),
    '-w',
    '-t',
    '60',
    'start',
  ]);
  const adminUrl = `postgres://postgres:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}/postgres`;
  const url = `postgres://postgres:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}/dify`;
  const psql = (db: string, sql: string) =>
    run(
      `${BIN}/psql`,
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(o.port),
        '-U',
        'postgres',
        '-d',
        db,
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        sql,
      ],
      {
        env: { ...process.env, PGPASSWORD: o.password },
      },
    );
  await waitFor(
    'PostgreSQL',
    async () => {
      await psql('postgres', 'select 1');
      return true;
    },
    { timeoutMs: 30_000 },
  );
  await psql('postgres', 'CREATE DATABASE dify');
  return { url, adminUrl, stop: () => stopPostgres(o.dataDir) };
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8'))
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`user ${name} does not exist: apt-get install postgresql`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
