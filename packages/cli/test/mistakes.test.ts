/**
 * Operator mistakes against the proving ground (a simulated install: fake cluster, Dify emulator
 * on a hostPath, real RGW and PostgreSQL): each one is refused with its exit code and a message
 * that says what is wrong, and nothing changes.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { envName } from '../src/args.js';
import {
  installInputValues,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../../action-tests/src/install/simulated-install.js';
import { testEnv } from '../../../action-tests/src/proving-ground/index.js';
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
  env = Object.fromEntries(
    Object.entries(installInputValues(install)).map(([k, v]) => [envName(k), v]),
  );
}, 120_000);
afterAll(async () => install?.stop());

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
