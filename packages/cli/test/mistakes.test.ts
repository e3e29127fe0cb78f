/**
 * Operator mistakes against the proving ground (a simulated install: fake cluster, Dify emulator
 * on a hostPath, real RGW and PostgreSQL): each one is refused with its exit code and a message
 * that says what is wrong, and nothing changes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3Transport } from '@dify-storage/sync';
import { envName } from '../src/args.js';
import {
  installCliEnv,
  renderEnvFile,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../../action-tests/src/install/simulated-install.js';
import { DEFAULT_STATE_DIR, testEnv } from '../../../action-tests/src/proving-ground/index.js';
import { createReadOnlyKeys } from '../../../action-tests/src/proving-ground/rgw.js';
import { cli } from './support.js';

let install: SimulatedInstall;
/** Every input of the install as DIFY_STORAGE_* (so each command reads the ones it takes). */
let env: NodeJS.ProcessEnv;

/** The cluster objects a mistake must leave alone, with their resourceVersions. */
function clusterState(): string {
  const kinds = ['statefulsets', 'deployments', 'configmaps', 'secrets', 'leases'] as const;
  return JSON.stringify(
    kinds.map((k) =>
      (
        install.server.api.list(k as never, 'dify') as unknown as {
          items: { metadata?: Record<string, unknown> }[];
        }
      ).items
        .map((o) => `${k}/${String(o.metadata?.name)}@${String(o.metadata?.resourceVersion)}`)
        .sort(),
    ),
  );
}

beforeAll(async () => {
  install = await startSimulatedInstall({ env: testEnv(), files: 12, timeScale: 0.05 });
  env = installCliEnv(install);
}, 120_000);
afterAll(async () => install?.stop());

describe('the kept demo', () => {
  it('writes an env file that a shell can source, with everything the CLI needs', async () => {
    const file = path.join(install.workDir, 'dify-storage.env');
    await writeFile(file, renderEnvFile({ ...env, DIFY_STORAGE_TRICKY: "it's $HOME `x`" }));
    const shown = spawnSync('bash', ['-c', `source '${file}' && env -0`], {
      encoding: 'utf8',
      env: {},
    });
    const sourced = Object.fromEntries(
      shown.stdout
        .split('\0')
        .filter((l) => l.startsWith('DIFY_STORAGE_'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(sourced).toEqual({ ...env, DIFY_STORAGE_TRICKY: "it's $HOME `x`" });
    for (const input of [
      'access-key-id',
      'secret-access-key',
      'bucket',
      'storage-path',
      'node-name',
      'kubeconfig',
      'database-url',
      'dify-url',
      'dataset-api-key',
    ]) {
      expect(sourced[envName(input)]).toBeTruthy();
    }
  });
});

describe('named workloads and complete backups', () => {
  it('backup --api-name with a typo refuses (exit 2) and writes no backup', async () => {
    const before = clusterState();
    const r = await cli(['backup', '--api-name', 'dify-apii'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "'dify-apii' (api-name) is neither a StatefulSet nor a Deployment in namespace dify",
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const backups = await readdir(env[envName('backup-dir')]!).catch(() => []);
    expect(backups.filter((f) => f.endsWith('.record.json'))).toEqual([]);
    expect(clusterState()).toBe(before);
  });

  it('rollback from a record without the api workload refuses before touching anything (exit 3)', async () => {
    const backup = await cli(['backup'], env);
    expect(backup.code).toBe(0);
    const id = /backup (\S+):/.exec(backup.stdout)![1]!;
    // What the old code wrote after `--api-name dify-apii`: a record without the api StatefulSet.
    const recordPath = path.join(env[envName('backup-dir')]!, `${id}.record.json`);
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as {
      kubernetes: { objects: { kind: string; name: string }[] };
    };
    record.kubernetes.objects = record.kubernetes.objects.filter((o) => o.name !== 'dify-api');
    await writeFile(recordPath, JSON.stringify(record, null, 2));
    const before = clusterState();
    const tree = await readdir(install.storagePath, { recursive: true });
    const r = await cli(['rollback', '--backup-id', id], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`Backup ${id} lacks the workload dify-api`);
    expect(r.stderr).toContain('not a complete backup');
    expect(clusterState()).toBe(before);
    expect(await readdir(install.storagePath, { recursive: true })).toEqual(tree);
  });
});

describe('plan, endpoints, flags and the cluster connection', () => {
  it('plan exits 3 when blocked, and checks the bucket read-only', async () => {
    const before = clusterState();
    const ready = await cli(['plan'], env);
    expect(ready.code).toBe(0);
    expect(ready.stderr).toContain('bucket-ok');
    const r = await cli(['plan', '--bucket', 'no-such-bucket-here'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('bucket-unusable');
    expect(r.stderr).toContain('bucket "no-such-bucket-here" does not exist');
    expect(r.stdout).toMatch(/next: resolve the blocking findings/);
    expect(clusterState()).toBe(before);
  });

  it("plan blocks a bucket anyone can read (it will hold the tenants' private keys)", async () => {
    const bucket = `public-${randomBytes(4).toString('hex')}`;
    const t = new S3Transport({
      endpoint: process.env.DSM_S3_ENDPOINT!,
      region: process.env.DSM_S3_REGION ?? 'us-east-1',
      bucket,
      forcePathStyle: true,
      credentials: {
        accessKeyId: process.env.DSM_S3_ACCESS_KEY!,
        secretAccessKey: process.env.DSM_S3_SECRET_KEY!,
      },
    });
    try {
      await t.createBucket();
      const acl = { 'x-amz-acl': 'public-read' };
      await t.send({ op: 'CreateBucket', method: 'PUT', query: { acl: '' }, headers: acl });
    } finally {
      t.close();
    }
    const r = await cli(['plan', '--bucket', bucket], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('bucket-public');
    expect(r.stderr).toContain('ACL grants READ to AllUsers');
  });

  it('says "not an S3 endpoint" and what answered, when pointed at Dify', async () => {
    const r = await cli(['migrate', '--mode', 'bulk', '--endpoint', install.difyUrl], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${new URL(install.difyUrl).origin} is not an S3 endpoint: it answered HTTP`,
    );
    expect(r.stderr).not.toContain('does not exist');
  });

  it('verify, plan and cutover say "not an S3 endpoint" too (the SDK client, the bucket checks)', async () => {
    const answered = `${new URL(install.difyUrl).origin} is not an S3 endpoint: it answered HTTP`;
    const before = clusterState();
    const v = await cli(['verify', '--endpoint', install.difyUrl], env);
    expect(v.stderr).toContain(answered);
    expect(v.code).toBe(2);
    const p = await cli(['plan', '--endpoint', install.difyUrl], env);
    expect(p.code).toBe(3);
    expect(p.stderr).toContain('bucket-unusable');
    expect(p.stderr).toContain(answered);
    const c = await cli(['cutover', '--no-backup', '--endpoint', install.difyUrl], env);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(answered);
    expect(c.stderr).toContain('(checked before the freeze)');
    for (const r of [v, p, c]) {
      expect(r.stdout + r.stderr).not.toContain('does not exist');
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    expect(clusterState()).toBe(before);
  }, 60_000);

  it('refuses a flag without its value (exit 2)', async () => {
    const r = await cli(['plan', '--bucket'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bucket');
  });

  it('names a missing kubeconfig and where it is read from (exit 4), and ECONNREFUSED (exit 4), without a stack', async () => {
    // No ~/.kube/config on this machine (a precondition), no $KUBECONFIG, no service account.
    expect(existsSync(path.join(os.homedir(), '.kube', 'config'))).toBe(false);
    const kubeconfig = process.env.KUBECONFIG;
    delete process.env.KUBECONFIG;
    try {
      const noEnv = { ...env };
      delete noEnv[envName('kubeconfig')];
      const r = await cli(['status'], noEnv);
      expect(r.code).toBe(4);
      expect(r.stderr).toContain('No kubeconfig: set the');
      expect(r.stderr).toContain('DIFY_STORAGE_KUBECONFIG');
      expect(r.stderr).toMatch(/\/\.kube\/config \(not found\)/);
      expect(r.stderr).not.toContain('skipTLSVerify');
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      if (kubeconfig !== undefined) process.env.KUBECONFIG = kubeconfig;
    }
    const nowhere = [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u, namespace: dify}}]',
      'current-context: x',
    ].join('\n');
    const refused = await cli(['status'], { ...env, [envName('kubeconfig')]: nowhere });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('cannot reach the API server https://127.0.0.1:9');
    expect(refused.stderr).not.toMatch(/^\s+at /m);
  });
});

/** Lines printed more than once (progress lines aside). */
function repeated(text: string): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || /^(copy|walk|list)/.test(line)) continue;
    if (seen.has(line)) twice.add(line);
    seen.add(line);
  }
  return [...twice];
}

describe('cutover, verify and rollback', () => {
  let backupId: string;
  /** The env without the backup id and the Dify inputs verify needs. */
  let bare: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const backup = await cli(['backup'], env);
    expect(backup.code).toBe(0);
    backupId = /backup (\S+):/.exec(backup.stdout)![1]!;
    const bulk = await cli(['migrate', '--mode', 'bulk'], env);
    expect(bulk.code).toBe(0);
    bare = { ...env };
    for (const k of ['dify-url', 'database-url', 'dify-secret-key']) delete bare[envName(k)];
  }, 120_000);

  it("cutover refuses without a backup (exit 2), and from a directory that is not the backup's", async () => {
    const before = clusterState();
    const none = await cli(['cutover'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("Phase 'cutover' needs the backup taken before it");
    const empty = await mkdtemp(path.join(os.tmpdir(), 'empty-storage-'));
    const other = await cli(['cutover', '--backup-id', backupId, '--storage-path', empty], env);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`is not the directory backup ${backupId} was taken of`);
    // With the database: the data-identity check of the install-shapes issue refuses it (exit 3).
    const foreign = await cli(['cutover', '--no-backup', '--storage-path', empty], env);
    expect(foreign.code).toBe(3);
    expect(foreign.stderr).toContain(`${empty} is not the storage the Dify pods see`);
    // Without it: fewer than 90% of the objects the bucket already holds (exit 2).
    const unbacked = await cli(['cutover', '--no-backup', '--storage-path', empty], bare);
    expect(unbacked.code).toBe(2);
    expect(unbacked.stderr).toMatch(
      /holds 0 file\(s\), but bucket "[^"]+" already holds \d+ object/,
    );
    for (const r of [none, other, foreign, unbacked]) expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(clusterState()).toBe(before);
  });

  it('cutover with read-only S3 keys refuses before the freeze (exit 4): its write probe is refused', async () => {
    const keys = await createReadOnlyKeys(path.join(DEFAULT_STATE_DIR, 'ceph'));
    const workloads = () =>
      ['dify-api', 'dify-worker'].map((name) => {
        const sts = install.server.api.get('statefulsets' as never, 'dify', name) as {
          spec: { replicas?: number };
        };
        const deployment = (
          install.server.api.list('deployments' as never, 'dify') as unknown as {
            items: { metadata?: { name?: string } }[];
          }
        ).items.some((d) => d.metadata?.name === name);
        return { name, replicas: sts.spec.replicas, deployment };
      });
    const before = workloads();
    expect(before.every((w) => w.replicas! > 0 && !w.deployment)).toBe(true);
    try {
      const r = await cli(['cutover', '--backup-id', backupId], {
        ...env,
        [envName('access-key-id')]: keys.accessKeyId,
        [envName('secret-access-key')]: keys.secretAccessKey,
      });
      expect(r.stderr).toContain(
        `the credentials cannot write to bucket "${env[envName('bucket')]}" (a probe object was refused)`,
      );
      expect(r.stderr).toContain('AccessDenied');
      expect(r.stderr).toContain('(checked before the freeze)');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.code).toBe(4);
      expect(workloads()).toEqual(before);
    } finally {
      await keys.remove();
    }
  }, 60_000);

  it("cutover from the backup's tree says each thing once and ends with the next step", async () => {
    const r = await cli(['cutover', '--backup-id', backupId], env);
    expect(r.code).toBe(0);
    expect(repeated(r.stdout + r.stderr)).toEqual([]);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^next: dify-storage verify/);
  }, 120_000);

  it('verify with stages skipped for lack of inputs is incomplete (exit 3), not pass', async () => {
    await install.waitForApi();
    const r = await cli(['verify'], bare);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('verdict: incomplete');
    expect(r.stdout).toContain('database-references');
    expect(r.stdout).toContain(
      `report: ${path.join(env[envName('state-dir')]!, 'verify-dify-report.json')}`,
    );
    // The same run, with every skipped stage named as skipped on purpose, passes.
    const skips = 'stored-files,database-references,dify-health,write-path,read-path,worker-path';
    const named = await cli(['verify', '--skip-stages', skips], bare);
    expect(named.stdout).toContain('verdict: pass');
    expect(named.code).toBe(0);
  }, 120_000);

  it('rollback prints sizes a person reads', async () => {
    const r = await cli(['rollback', '--backup-id', backupId], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/copied back \d+ object\(s\) \([\d.]+ (B|KiB|MiB)\)/);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^next: /);
  }, 180_000);
});

describe('the state directory lock', () => {
  it('a second migrate on the same state directory refuses at once, naming the holder; a stale lock is taken over', async () => {
    const stateDir = env[envName('state-dir')]!;
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const stat = await readFile(`/proc/${holder.pid}/stat`, 'utf8');
      const owner = {
        pid: holder.pid,
        procStart: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19],
        host: os.hostname(),
        startedAt: new Date().toISOString(),
        what: 'migrate --mode bulk',
      };
      await writeFile(path.join(stateDir, '.lock'), JSON.stringify(owner));
      const started = Date.now();
      const r = await cli(['migrate', '--mode', 'delta'], env);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(
        `The state directory ${stateDir} is in use by another run: migrate --mode bulk, pid ${holder.pid}`,
      );
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      holder.kill();
    }
    await new Promise((resolve) => holder.once('exit', resolve));
    // Its process is gone: the lock is stale, and the next run takes it over.
    const after = await cli(['migrate', '--mode', 'delta'], env);
    expect(after.code).toBe(0);
    expect(existsSync(path.join(stateDir, '.lock'))).toBe(false);
  }, 60_000);
});

describe('status', () => {
  it('flags a mixed install (exit 3) and a missing namespace (exit 2)', async () => {
    const clean = await cli(['status'], env);
    expect(clean.code).toBe(0);
    expect(clean.stdout).not.toContain('MIXED');
    // Half a cutover: the worker became a Deployment, the api is still a StatefulSet.
    const sts = install.server.api.get('statefulsets' as never, 'dify', 'dify-worker') as {
      spec: Record<string, unknown>;
    };
    install.server.api.create('deployments' as never, 'dify', {
      metadata: { name: 'dify-worker' },
      spec: { ...sts.spec, replicas: 0 },
    });
    install.server.api.delete('statefulsets' as never, 'dify', 'dify-worker');
    const mixed = await cli(['status'], env);
    expect(mixed.code).toBe(3);
    expect(mixed.stdout).toContain(
      'MIXED: one workload is converted and the other not (dify-api: StatefulSet, dify-worker: Deployment)',
    );
    expect(mixed.stdout).toMatch(/next: .*dify-storage rollback/);
    const gone = await cli(['status', '--namespace', 'dify-prod'], env);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('Namespace dify-prod does not exist');
  });
});

/**
 * Takes every free block of `dir`'s file system with fallocate (tmpfs supports it; faster than
 * any write). The backup keeps writing meanwhile, and fallocate of more than is free allocates
 * nothing, so it takes what statfs says is free, again, until under 64 KiB is left.
 */
async function fillUp(dir: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const { bavail, bsize } = await statfs(dir);
    const free = Number(bavail) * Number(bsize);
    if (free < 64 << 10) return true;
    spawnSync('fallocate', [
      '-l',
      String(free - (free > 1 << 20 ? 256 << 10 : 0)),
      path.join(dir, `filler-${i}`),
    ]);
  }
  return false;
}

describe('a disk that fills up during the backup', () => {
  let small: string;
  let mounted = false;
  beforeAll(async () => {
    small = await mkdtemp(path.join(os.tmpdir(), 'small-backups-'));
    mounted =
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=200m', 'tmpfs', small], { encoding: 'utf8' })
        .status === 0;
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [small]);
  });

  it('says the backup directory filled up after N bytes, leaves no backup, and the storage untouched', async () => {
    if (!mounted) {
      console.warn('SKIPPED: cannot mount a tmpfs (needs root)');
      return;
    }
    // 80 MiB of incompressible data (the archive takes a moment to write, long enough to fill the
    // disk under it) on 200 MiB: the preflight (data + its 64 MiB minimum margin) passes.
    await writeFile(
      path.join(install.storagePath, 'upload_files', 'big.bin'),
      randomBytes(80 << 20),
    );
    const tree = async () =>
      JSON.stringify(
        await Promise.all(
          (await readdir(install.storagePath, { recursive: true })).sort().map(async (f) => {
            const s = await stat(path.join(install.storagePath, f));
            return `${f}:${s.size}:${s.mtimeMs}`;
          }),
        ),
      );
    const before = await tree();
    const backupDir = path.join(small, 'backups');
    // Something else fills the disk once the preflight passed and the archive is being written.
    let filled = false;
    const filler = (async () => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const names = await readdir(backupDir).catch(() => [] as string[]);
        if (names.some((n) => n.endsWith('.partial'))) {
          filled = await fillUp(small);
          return;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const r = await cli(['backup', '--backup-dir', backupDir, '--free-space-margin', '0'], env);
    await filler;
    expect(filled).toBe(true);
    if (r.code !== 1) throw new Error(`exit ${r.code}: ${r.stderr}`);
    expect(r.stderr).toMatch(
      new RegExp(`The backup directory ${backupDir} filled up after \\d+ bytes`),
    );
    expect(r.stderr).toContain('no backup record was written');
    expect(r.stderr).not.toContain('EPIPE');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect((await readdir(backupDir)).filter((f) => !f.endsWith('.kubernetes'))).toEqual([]);
    expect(await tree()).toBe(before);
  }, 120_000);
});
