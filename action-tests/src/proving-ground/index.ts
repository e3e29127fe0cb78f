import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { errorMessage } from '@dify-storage/action-kit';
import { createS3Client } from '@dify-storage/s3';
import pg from 'pg';
import { makePostgresHome, removePostgresHome, startPostgres, stopPostgres } from './postgres.js';
import { startRedis, stopRedis } from './redis.js';
import { createReadOnlyKeys, startRgw, stopRgw } from './rgw.js';
import { generateTestCertificates } from './tls.js';

/** Connection settings of a running proving ground, exported to tests as environment variables. */
export interface ProvingGroundEnv {
  DSM_S3_ENDPOINT: string;
  /** The same gateway over TLS, with a certificate from a private CA (not trusted by default). */
  DSM_S3_TLS_ENDPOINT: string;
  /** PEM file of that private CA. */
  DSM_S3_CA_FILE: string;
  DSM_S3_ACCESS_KEY: string;
  DSM_S3_SECRET_KEY: string;
  /** A read-only key pair of the same user (an RGW subuser with read access): the plan's keys. */
  DSM_S3_READ_ACCESS_KEY: string;
  DSM_S3_READ_SECRET_KEY: string;
  DSM_S3_REGION: string;
  DSM_PG_URL: string;
  DSM_PG_ADMIN_URL: string;
  DSM_REDIS_URL: string;
}

export interface ProvingGround {
  env: ProvingGroundEnv;
  stateDir: string;
  /** True when an already running proving ground was found and is being shared. */
  reused: boolean;
  /** Stops the services if this call started (or adopted) them; a no-op for a shared one. */
  stop(): Promise<void>;
}

type Owner = 'cli' | 'jest' | 'demo';

interface EnvFile {
  owner: Owner;
  env: ProvingGroundEnv;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_STATE_DIR = path.join(REPO_ROOT, '.proving-ground');

export const PORTS = {
  s3: Number(process.env.DSM_RGW_PORT ?? 17480),
  s3Tls: Number(process.env.DSM_RGW_TLS_PORT ?? 17443),
  monV2: Number(process.env.DSM_MON_V2_PORT ?? 23300),
  monV1: Number(process.env.DSM_MON_V1_PORT ?? 26789),
  postgres: Number(process.env.DSM_PG_PORT ?? 15432),
  redis: Number(process.env.DSM_REDIS_PORT ?? 16379),
};

function envFilePath(stateDir: string): string {
  return path.join(stateDir, 'env.json');
}

async function healthy(env: ProvingGroundEnv): Promise<boolean> {
  // A set started before the TLS endpoint existed lacks it: start a complete one instead.
  if (!env.DSM_S3_TLS_ENDPOINT || !existsSync(env.DSM_S3_CA_FILE ?? '')) return false;
  const s3 = createS3Client({
    endpoint: env.DSM_S3_TLS_ENDPOINT,
    caBundle: await readFile(env.DSM_S3_CA_FILE, 'utf8'),
    region: env.DSM_S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.DSM_S3_ACCESS_KEY, secretAccessKey: env.DSM_S3_SECRET_KEY },
    maxAttempts: 1,
    requestTimeoutMs: 5000,
  });
  const client = new pg.Client({ connectionString: env.DSM_PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await s3.send(new ListBucketsCommand({}));
    await client.connect();
    await client.query('select 1');
    return await redisPing(env.DSM_REDIS_URL);
  } catch {
    return false;
  } finally {
    s3.destroy();
    await client.end().catch(() => undefined);
  }
}

function redisPing(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.setTimeout(3000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Stops whatever a previous (possibly killed) run left in the state dir. */
export async function stopProvingGround(stateDir = DEFAULT_STATE_DIR): Promise<void> {
  await Promise.all([
    stopRgw(path.join(stateDir, 'ceph')),
    removePostgresHome(stateDir),
    // The layout before postgres moved out of the checkout.
    stopPostgres(path.join(stateDir, 'postgres', 'data')),
    stopRedis(path.join(stateDir, 'redis')),
  ]);
  await rm(stateDir, { recursive: true, force: true });
}

/**
 * Brings up real Ceph RGW, PostgreSQL and Redis on loopback, or shares a healthy running set
 * (started by `proving-ground start` or left by a killed run). Everything lives in one state
 * directory so leftovers can always be found and stopped.
 */
export async function startProvingGround(
  opts: { stateDir?: string; owner?: Owner; ports?: typeof PORTS } = {},
): Promise<ProvingGround> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const ports = opts.ports ?? PORTS;
  const owner = opts.owner ?? 'jest';
  if (existsSync(envFilePath(stateDir))) {
    const existing = JSON.parse(await readFile(envFilePath(stateDir), 'utf8')) as EnvFile;
    if (await healthy(existing.env)) {
      // A set left by a killed test run is adopted (and stopped at the end); one started by
      // the CLI is shared and left running.
      const adopt = existing.owner !== 'cli';
      return {
        env: existing.env,
        stateDir,
        reused: true,
        stop: adopt ? () => stopProvingGround(stateDir) : async () => undefined,
      };
    }
  }
  await stopProvingGround(stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const postgresHome = await makePostgresHome(stateDir);

  const accessKey = `DSMTEST${randomBytes(6).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(20).toString('hex');
  const pgPassword = randomBytes(12).toString('hex');
  const tls = await generateTestCertificates(path.join(stateDir, 'tls'));
  const results = await Promise.allSettled([
    startRgw({
      stateDir: path.join(stateDir, 'ceph'),
      s3Port: ports.s3,
      tlsPort: ports.s3Tls,
      tls,
      monV2Port: ports.monV2,
      monV1Port: ports.monV1,
      accessKey,
      secretKey,
    }),
    startPostgres({
      dataDir: path.join(postgresHome, 'data'),
      port: ports.postgres,
      password: pgPassword,
    }),
    startRedis({ dir: path.join(stateDir, 'redis'), port: ports.redis }),
  ]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    // Wait for every start to settle before stopping, so no daemon comes up after the stop.
    await stopProvingGround(stateDir);
    throw new AggregateError(
      failed.map((f) => f.reason as Error),
      // The whole message: it carries the failing command's stderr (initdb's own words).
      `the proving ground did not start:\n${failed.map((f) => errorMessage(f.reason)).join('\n')}`,
    );
  }
  const [rgw, postgres, redis] = results.map(
    (r) => (r as PromiseFulfilledResult<unknown>).value,
  ) as [
    Awaited<ReturnType<typeof startRgw>>,
    Awaited<ReturnType<typeof startPostgres>>,
    Awaited<ReturnType<typeof startRedis>>,
  ];
  const readKeys = await createReadOnlyKeys(path.join(stateDir, 'ceph'));
  const env: ProvingGroundEnv = {
    DSM_S3_ENDPOINT: rgw.endpoint,
    DSM_S3_TLS_ENDPOINT: rgw.tlsEndpoint,
    DSM_S3_CA_FILE: rgw.caFile,
    DSM_S3_ACCESS_KEY: rgw.accessKey,
    DSM_S3_SECRET_KEY: rgw.secretKey,
    DSM_S3_READ_ACCESS_KEY: readKeys.accessKeyId,
    DSM_S3_READ_SECRET_KEY: readKeys.secretAccessKey,
    DSM_S3_REGION: rgw.region,
    DSM_PG_URL: postgres.url,
    DSM_PG_ADMIN_URL: postgres.adminUrl,
    DSM_REDIS_URL: redis.url,
  };
  const file: EnvFile = { owner, env };
  await writeFile(`${envFilePath(stateDir)}.tmp`, JSON.stringify(file, null, 2), { mode: 0o600 });
  await rename(`${envFilePath(stateDir)}.tmp`, envFilePath(stateDir));
  return { env, stateDir, reused: false, stop: () => stopProvingGround(stateDir) };
}

/** The proving ground's settings as seen by a test (exported by the jest global setup). */
export function testEnv(): ProvingGroundEnv {
  const keys: (keyof ProvingGroundEnv)[] = [
    'DSM_S3_ENDPOINT',
    'DSM_S3_TLS_ENDPOINT',
    'DSM_S3_CA_FILE',
    'DSM_S3_ACCESS_KEY',
    'DSM_S3_SECRET_KEY',
    'DSM_S3_READ_ACCESS_KEY',
    'DSM_S3_READ_SECRET_KEY',
    'DSM_S3_REGION',
    'DSM_PG_URL',
    'DSM_PG_ADMIN_URL',
    'DSM_REDIS_URL',
  ];
  const env = {} as ProvingGroundEnv;
  for (const key of keys) {
    const value = process.env[key];
    if (!value)
      throw new Error(
        `${key} is not set: run the tests through jest (its global setup starts the proving ground)`,
      );
    env[key] = value;
  }
  return env;
}
