/**
 * issue 19: real install shapes end to end on the simulated install. For each shape: the plan
 * shows no blocker and names volume type, node and path; backup, bulk copy, cutover; verify-dify
 * passes; rollback restores the original objects and files.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  readBackupConfig,
  readConvertConfig,
  readMigrateConfig,
  readRollbackConfig,
  runBackup,
  runConvert,
  runMigrate,
  runRollback,
} from '@dify-storage/operations';
import {
  SETTINGS_SECRET,
  SETTINGS_SECRET_CANARY,
  type InstallShape,
} from '../../src/install/fixture.js';
import {
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { testEnv } from '../../src/proving-ground/index.js';
import { inputValues, log, noMask, reader, treeOf } from '../rollback/support.js';
import { expectVerifyPasses, originalObjects } from './support.js';

/** A Secret's data as the pods read it. */
function secretData(install: SimulatedInstall, name: string): Record<string, string> {
  const o = install.server.store.get('secrets', install.namespace, name) as {
    data?: Record<string, string>;
  };
  return Object.fromEntries(
    Object.entries(o.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** Every file under `dir` except `skip` whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string, skip: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(e.parentPath, e.name);
    if (!e.isFile() || file.startsWith(skip)) continue;
    if ((await readFile(file)).includes(needle)) found.push(file);
  }
  return found;
}

const CASES: { shape: InstallShape; volume: RegExp; inputs?: Record<string, string> }[] = [
  {
    shape: 'local-pv',
    volume: /claim "dify-storage" → local PV "[^"]+" \/mnt\/disks\/dify on node node-a/,
  },
  {
    shape: 'nfs-subpath',
    volume:
      /claim "dify-storage" → NFS PV "[^"]+" nfs\.dify\.internal:\/exports\/dify\/app\/api\/storage/,
  },
  {
    shape: 'claim-templates',
    volume:
      /\(pod ordinal 0\): claim "dify-api-storage-dify-api-0" → local PV "[^"]+" \/mnt\/disks\/dify on node node-a/,
  },
  {
    shape: 'settings-configmaps',
    volume: /hostPath \/root\/dify\/app\/api\/storage on node node-a/,
  },
  {
    shape: 'settings-secret',
    volume: /hostPath \/root\/dify\/app\/api\/storage on node node-a/,
    inputs: { 'settings-secret': SETTINGS_SECRET },
  },
  { shape: 'other-workloads', volume: /hostPath \/root\/dify\/app\/api\/storage on node node-a/ },
  {
    shape: 'kustomize-prefix',
    volume: /`prod-dify-api`: hostPath \/root\/dify\/app\/api\/storage on node node-a/,
    inputs: { 'api-name': 'prod-dify-api', 'worker-name': 'prod-dify-worker' },
  },
];

/** §5 safety rule: unnamed, the settings Secret wins over the ConfigMap and the plan refuses. */
async function settingsSecretRefusal(i: SimulatedInstall): Promise<void> {
  const read = reader(inputValues(i, { phase: 'plan' }));
  const plan = await runConvert(readConvertConfig(read, {}, noMask), log);
  expect(plan.plan.blockers.map((b) => [b.code, b.message])).toEqual([
    [
      'storage-setting-overridden',
      expect.stringMatching(
        /container "dify-api" of "dify-api" would still get STORAGE_TYPE="opendal" from Secret "dify-storage-secret" \(envFrom\).* name it in settings-secret/,
      ),
    ],
  ]);
}

let install: SimulatedInstall | undefined;
afterEach(async () => {
  await install?.stop();
  install = undefined;
});

describe('install shapes end to end (plan, cutover, verify, rollback)', () => {
  it.each(CASES)(
    '$shape',
    async ({ shape, volume, inputs }) => {
      install = await startSimulatedInstall({ env: testEnv(), files: 12, timeScale: 0.1, shape });
      const i = install;
      // 300 s × timeScale 0.1 = 30 s of real progress deadline: the emulator starts slowly under load.
      const values = (extra: Record<string, string> = {}) =>
        inputValues(i, { 'rollout-timeout': '300', ...inputs, ...extra });
      const read = (extra: Record<string, string> = {}) => reader(values(extra));
      if (shape === 'settings-secret') await settingsSecretRefusal(i);

      const plan = await runConvert(readConvertConfig(read({ phase: 'plan' }), {}, noMask), log);
      expect(plan.plan.blockers).toEqual([]);
      expect(plan.planMarkdown).toMatch(volume);
      const prefix = shape === 'kustomize-prefix' ? 'prod-' : '';
      expect(plan.planMarkdown).toContain(`\`${prefix}dify-api\``);
      expect(plan.planMarkdown).toContain(`\`${prefix}dify-worker\``);
      if (shape === 'other-workloads') {
        // §8/§9: every other workload is named with what happens to it.
        expect(plan.planMarkdown).toContain(
          'Deployment/dify-worker-beat reads ConfigMap "dify-shared-config" and is not converted',
        );
        expect(plan.planMarkdown).toContain('Deployment/dify-plugin-daemon (plugin daemon');
        expect(plan.planMarkdown).toContain('langgenius/dify-plugin-daemon:0.0.9-local');
        // Storage writers are frozen for the final delta; a read-only one is not.
        expect(plan.planMarkdown).toContain(
          'Deployment/dify-storage-tool mounts the storage (hostPath /root/dify/app/api/storage) writable and is not converted: the cutover freezes it with api and worker - scaled to 0 during the final delta, then given back its 1 replica(s)',
        );
        expect(plan.planMarkdown).toContain(
          'CronJob/dify-storage-cleanup mounts the storage (hostPath /root/dify/app/api/storage) writable and is not converted: the cutover freezes it with api and worker - suspended (and its running Jobs waited for) during the final delta, then resumed',
        );
        expect(plan.planMarkdown).toContain(
          'CronJob/dify-storage-report mounts the storage (hostPath /root/dify/app/api/storage) read-only: not frozen',
        );
        expect(plan.planMarkdown).toContain(
          'CronJob/dify-storage-report reads ConfigMap "dify-shared-config" and is not converted',
        );
      }

      if (shape === 'nfs-subpath') {
        // §6: the export's root instead of its subPath is not the pods' storage: refused, with figures.
        const wrong = path.dirname(path.dirname(path.dirname(i.storagePath)));
        await expect(
          runBackup(readBackupConfig(read({ 'storage-path': wrong }), {}, noMask), log),
        ).rejects.toThrow(
          /is not the storage the Dify pods see: of \d+ sampled uploads .* only 0 are there/,
        );
      }
      if (shape === 'local-pv') {
        // §7: node-local data: a runner on another node is refused before anything is read.
        await expect(
          runBackup(readBackupConfig(read({ 'node-name': 'node-b' }), {}, noMask), log),
        ).rejects.toThrow(
          "This runner is on node 'node-b', but dify-api's local storage is on node 'node-a'",
        );
      }
      if (shape === 'settings-secret') {
        // The plan says where each value comes from and what it changes in the Secret.
        expect(plan.planMarkdown).toContain(
          `### Secret \`${SETTINGS_SECRET}\` (storage settings, named in settings-secret)`,
        );
        expect(plan.planMarkdown).toContain('| `STORAGE_TYPE` | changed | `opendal` | `s3` |');
        expect(plan.planMarkdown).toContain('| `OPENDAL_FS_ROOT` | removed | `storage` |  |');
        expect(plan.planMarkdown).toMatch(
          /\| `dify-api` \/ `dify-api` \| `STORAGE_TYPE` \| `opendal` from Secret "dify-storage-secret" \(envFrom\) \| `s3` from Secret "dify-storage-secret" \(envFrom\) \|/,
        );
        expect(plan.planMarkdown).toMatch(
          /\| `dify-worker` \/ `dify-worker` \| `STORAGE_TYPE` \| `opendal` from Secret "dify-storage-secret" key STORAGE_TYPE \(env valueFrom\) \| `s3` from Secret "dify-storage-secret" key STORAGE_TYPE \(env valueFrom\) \|/,
        );
        expect(plan.planMarkdown).not.toContain(SETTINGS_SECRET_CANARY);
      }
      const objectsBefore = originalObjects(i);
      const treeBefore = await treeOf(i.storagePath);
      const lines: string[] = [];
      // §7: NFS is not node-local, so the backup runs on a runner of any node that mounts it.
      const node: Record<string, string> = shape === 'nfs-subpath' ? { 'node-name': 'node-b' } : {};
      const backup = await runBackup(readBackupConfig(read(node), {}, noMask), {
        ...log,
        info: (l) => lines.push(l),
      });
      // Every sampled upload is there but the seeded one deleted before the migration (issue 15).
      expect(lines.join('\n')).toMatch(
        /data identity: (\d+) of (\d+) sampled uploads .*(?:; 1 missing \("upload_files\/[^"]+"\) taken for references broken before the migration|\(100\.0 %\))/,
      );
      if (shape === 'settings-secret') {
        // The Secret is kept whole on the node only: no other backup file carries its values.
        const { record } = backup.backup!;
        const kept = record.kubernetes.nodeLocalSecrets ?? [];
        expect(kept.map((k) => k.name)).toEqual([SETTINGS_SECRET]);
        const file = path.join(record.backupDir, kept[0]!.file);
        expect((await stat(file)).mode & 0o777).toBe(0o600);
        expect(await readFile(file, 'utf8')).toContain(
          Buffer.from(SETTINGS_SECRET_CANARY).toString('base64'),
        );
        const nodeLocal = path.dirname(file);
        for (const needle of [
          SETTINGS_SECRET_CANARY,
          Buffer.from(SETTINGS_SECRET_CANARY).toString('base64'),
        ])
          expect(await filesContaining(record.backupDir, needle, nodeLocal)).toEqual([]);
      }
      const bulk = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log);
      expect(bulk.mode !== 'verify' && bulk.report.ok).toBe(true);
      const cut = await runConvert(
        readConvertConfig(
          read({ phase: 'cutover', 'backup-id': backup.backup!.record.id }),
          {},
          noMask,
        ),
        log,
      );
      await i.waitForApi();
      if (shape === 'other-workloads') {
        // Frozen before the Deployments exist (so before the final delta), given back after.
        const steps = cut.journal.map((e) => `${e.kind}/${e.name}: ${e.detail}`);
        const at = (line: string) => steps.indexOf(line);
        const created = at('Deployment/dify-api: 1 replica(s), from StatefulSet/dify-api');
        expect(at('Deployment/dify-storage-tool: replicas 1 → 0')).toBeGreaterThan(-1);
        expect(at('Deployment/dify-storage-tool: replicas 1 → 0')).toBeLessThan(created);
        expect(at('CronJob/dify-storage-cleanup: suspend false → true')).toBeLessThan(created);
        expect(at('CronJob/dify-storage-cleanup: suspend false → true')).toBeGreaterThan(-1);
        expect(at('Deployment/dify-storage-tool: replicas 0 → 1')).toBeGreaterThan(created);
        expect(at('CronJob/dify-storage-cleanup: suspend true → false')).toBeGreaterThan(created);
        expect(steps.filter((l) => l.includes('dify-storage-report'))).toEqual([]);
        expect(originalObjects(i)['cronjobs/dify-storage-cleanup']).toEqual(
          objectsBefore['cronjobs/dify-storage-cleanup'],
        );
        expect(originalObjects(i)['deployments/dify-storage-tool']).toBe(1);
      }
      if (shape === 'settings-secret') {
        // Written where the settings live; the Secret's other values are untouched.
        const after = secretData(i, SETTINGS_SECRET);
        expect(after).toMatchObject({ STORAGE_TYPE: 's3', INIT_PASSWORD: SETTINGS_SECRET_CANARY });
        expect(after.S3_BUCKET_NAME).toBe(i.bucket);
        expect(Object.keys(after).filter((k) => k.startsWith('OPENDAL_'))).toEqual([]);
      }

      if (shape === 'kustomize-prefix') {
        // §10: both Services selecting the api select the Deployment's pods.
        const deployment = i.server.store.get('deployments', i.namespace, 'prod-dify-api')!;
        const labels = deployment.spec!.template.metadata.labels as Record<string, string>;
        for (const name of ['prod-dify-api', 'prod-dify-api-internal']) {
          const svc = i.server.store.get('services', i.namespace, name)!;
          const selector = svc.spec!.selector as Record<string, string>;
          expect([name, labels]).toEqual([name, expect.objectContaining(selector)]);
        }
      }
      await expectVerifyPasses(i, read, backup.backup!.manifestPath);

      const rolled = await runRollback(
        readRollbackConfig(
          read({ 'backup-id': backup.backup!.record.id, 'run-id': `shape-${shape}` }),
          {},
          noMask,
        ),
        log,
      );
      expect(rolled.checks.filter((c) => !c.ok)).toEqual([]);
      expect(originalObjects(i)).toEqual(objectsBefore);
      const treeAfter = await treeOf(i.storagePath);
      for (const [file, hash] of treeBefore)
        expect([file, treeAfter.get(file)]).toEqual([file, hash]);
      await i.waitForApi();
    },
    420_000,
  );
});

/** A small install of `shape` (6 files), stopped after the test. */
async function small(shape: InstallShape): Promise<SimulatedInstall> {
  install = await startSimulatedInstall({ env: testEnv(), files: 6, timeScale: 0.1, shape });
  return install;
}

describe('storage writers frozen by the cutover come back with a rollback (§8)', () => {
  it('freeze, then rollback from the backup record: replicas and suspend restored', async () => {
    const i = await small('other-workloads');
    const read = (extra: Record<string, string> = {}) =>
      reader(inputValues(i, { 'rollout-timeout': '300', ...extra }));
    const before = originalObjects(i);
    const backup = await runBackup(readBackupConfig(read(), {}, noMask), log);
    const kept = backup.backup!.record.kubernetes.objects.map((o) => `${o.kind}/${o.name}`);
    expect(kept).toEqual(
      expect.arrayContaining(['Deployment/dify-storage-tool', 'CronJob/dify-storage-cleanup']),
    );
    expect(kept).not.toContain('CronJob/dify-storage-report'); // read-only: never frozen
    const frozen = await runConvert(readConvertConfig(read({ phase: 'freeze' }), {}, noMask), log);
    expect(frozen.journal.map((e) => `${e.kind}/${e.name}: ${e.detail}`)).toEqual(
      expect.arrayContaining([
        'Deployment/dify-storage-tool: replicas 1 → 0',
        'CronJob/dify-storage-cleanup: suspend false → true',
      ]),
    );
    const store = i.server.store;
    const cleanup = () =>
      store.get('cronjobs', i.namespace, 'dify-storage-cleanup') as {
        spec: { suspend?: boolean };
      };
    expect(cleanup().spec.suspend).toBe(true);
    expect(originalObjects(i)['deployments/dify-storage-tool']).toBe(0);

    const rolled = await runRollback(
      readRollbackConfig(
        read({ 'backup-id': backup.backup!.record.id, 'run-id': 'after-freeze' }),
        {},
        noMask,
      ),
      log,
    );
    expect(rolled.journal.map((e) => `${e.kind}/${e.name}: ${e.detail}`)).toEqual(
      expect.arrayContaining([
        'Deployment/dify-storage-tool: replicas 0 → 1',
        'CronJob/dify-storage-cleanup: suspend true → false',
      ]),
    );
    expect(originalObjects(i)).toEqual(before);
    await i.waitForApi();
  }, 300_000);
});
