/**
 * issue 19 shapes 3 and 4 with several storage trees: api and worker each on their own RWO claim
 * (`rwo-per-workload`), and a StatefulSet with a claim per ordinal (`claim-ordinals`). The plan
 * shows no blocker; the backup takes every tree; bulk and the final delta copy them all into the
 * one bucket; verify passes; rollback restores every tree to its own volume and the original
 * objects. A key in two trees with different content is reported and never overwritten.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
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
import { ORDINAL_1_PV_PATH, WORKER_PV_PATH, type InstallShape } from '../../src/install/fixture.js';
import {
  installS3Client,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { normalizePath } from '../../src/dify/index.js';
import { testEnv } from '../../src/proving-ground/index.js';
import { getObject, inputValues, log, noMask, reader, treeOf } from '../rollback/support.js';
import { expectVerifyPasses, originalObjects } from './support.js';

let install: SimulatedInstall | undefined;
afterEach(async () => {
  await install?.stop();
  install = undefined;
});

const CASES: { shape: InstallShape; other: string; label: string }[] = [
  { shape: 'rwo-per-workload', other: WORKER_PV_PATH, label: 'dify-worker' },
  { shape: 'claim-ordinals', other: ORDINAL_1_PV_PATH, label: 'dify-api ordinal 1' },
];

/** Regular files of the api's tree with plain names (sorted), to copy or contradict elsewhere. */
async function apiFiles(i: SimulatedInstall): Promise<string[]> {
  return [...(await treeOf(i.storagePath))]
    .filter(([rel, hash]) => !hash.startsWith('(') && /^[\w/.-]+$/.test(rel))
    .map(([rel]) => rel)
    .sort();
}

async function put(root: string, rel: string, body: Buffer | string): Promise<void> {
  await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await writeFile(path.join(root, rel), body);
}

describe('several storage trees end to end (plan, cutover, verify, rollback)', () => {
  it.each(CASES)(
    '$shape',
    async ({ shape, other, label }) => {
      install = await startSimulatedInstall({ env: testEnv(), files: 12, timeScale: 0.1, shape });
      const i = install;
      const read = (extra: Record<string, string> = {}) =>
        reader(inputValues(i, { 'rollout-timeout': '300', ...extra }));
      const otherTree = path.join(i.workDir, 'nodes', i.node, other);
      const same = (await apiFiles(i))[0]!;
      await put(otherTree, same, await readFile(path.join(i.storagePath, same)));
      await put(otherTree, 'image_files/t/only-in-other.png', 'only the other tree has this');
      await put(otherTree, 'upload_files/t/other-upload.txt', 'written by the other workload');

      const plan = await runConvert(readConvertConfig(read({ phase: 'plan' }), {}, noMask), log);
      expect(plan.plan.blockers).toEqual([]);
      const several = plan.plan.findings.find((f) => f.code === 'several-trees');
      expect(several?.message).toContain(`2 storage trees`);
      expect(several?.message).toContain(
        `${label}'s tree holds 3 file(s); 2 only there (copied to the bucket too), 1 identical to an earlier tree's (copied once), 0 in an earlier tree with different content.`,
      );

      const objectsBefore = originalObjects(i);
      const apiBefore = await treeOf(i.storagePath);
      const otherBefore = await treeOf(otherTree);
      const backup = await runBackup(readBackupConfig(read(), {}, noMask), log);
      const record = backup.backup!.record;
      expect(record.kubernetes.storageTrees?.map((t) => [t.label, t.storageDir, t.files])).toEqual([
        [expect.any(String), i.storagePath, expect.any(Number)],
        [label, otherTree, 3],
      ]);
      expect(backup.trees?.map((t) => t.backupId)).toEqual([
        `${record.id}-${label.replace(' ordinal ', '-')}`,
      ]);

      const bulk = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log);
      expect(bulk.mode !== 'verify' && bulk.report.ok).toBe(true);
      expect(bulk.mode !== 'verify' && bulk.trees?.map((t) => [t.label, t.conflicts])).toEqual([
        [label, []],
      ]);
      // Written after the bulk copy: the final delta under the freeze takes it.
      await put(otherTree, 'image_files/t/after-bulk.png', 'written between bulk and cutover');

      const cut = await runConvert(
        readConvertConfig(read({ phase: 'cutover', 'backup-id': record.id }), {}, noMask),
        log,
      );
      expect(cut.delta?.ok).toBe(true);
      await i.waitForApi();
      const s3 = installS3Client(i);
      try {
        const expected: [string, string][] = [
          ['image_files/t/only-in-other.png', 'only the other tree has this'],
          ['upload_files/t/other-upload.txt', 'written by the other workload'],
          ['image_files/t/after-bulk.png', 'written between bulk and cutover'],
        ];
        for (const [key, body] of expected)
          expect([key, (await getObject(s3, i.bucket, key)).toString()]).toEqual([key, body]);
        expect(await getObject(s3, i.bucket, same)).toEqual(
          await readFile(path.join(i.storagePath, same)),
        );
      } finally {
        s3.destroy();
      }

      await expectVerifyPasses(i, read, backup.backup!.manifestPath);

      const rolled = await runRollback(
        readRollbackConfig(
          read({ 'backup-id': record.id, 'run-id': `trees-${shape}` }),
          {},
          noMask,
        ),
        log,
      );
      expect(rolled.checks.filter((c) => !c.ok)).toEqual([]);
      expect(rolled.trees?.map((t) => [t.label, t.storagePath])).toEqual([[label, otherTree]]);
      expect(originalObjects(i)).toEqual(objectsBefore);
      // Each tree has its own files back, and nothing of the other's originals.
      const apiAfter = await treeOf(i.storagePath);
      const otherAfter = await treeOf(otherTree);
      for (const [file, hash] of apiBefore)
        expect([file, apiAfter.get(file)]).toEqual([file, hash]);
      for (const [file, hash] of otherBefore)
        expect([file, otherAfter.get(file)]).toEqual([file, hash]);
      // An api file from before the backup (keys written since go to every tree, below), and not
      // one whose database key is not its fs path: the key fix-up's copy at the verbatim key is
      // an object another tree's copy back cannot tell from a new one (runbook, shape 3).
      const fixedUp = new Set(
        (bulk.mode !== 'verify' ? (bulk.keyFixUp?.copiedKeys ?? []) : []).map(normalizePath),
      );
      const last = [...apiBefore.keys()]
        .filter((k) => !fixedUp.has(k))
        .sort()
        .at(-1)!;
      expect([...apiAfter.keys()].filter((k) => !apiBefore.has(k))).toEqual([
        'image_files/t/after-bulk.png',
      ]);
      expect([last, otherAfter.has(last)]).toEqual([last, false]);
      // Written after the backup: back in every tree (each workload read every key from the bucket).
      for (const tree of [i.storagePath, otherTree])
        expect(await readFile(path.join(tree, 'image_files/t/after-bulk.png'), 'utf8')).toBe(
          'written between bulk and cutover',
        );
      await i.waitForApi();
    },
    480_000,
  );
});

describe('a key in two trees with different content (shape 3)', () => {
  it('is reported by key, never overwritten, and blocks the cutover', async () => {
    install = await startSimulatedInstall({
      env: testEnv(),
      files: 6,
      timeScale: 0.1,
      shape: 'rwo-per-workload',
    });
    const i = install;
    const read = (extra: Record<string, string> = {}) =>
      reader(inputValues(i, { 'rollout-timeout': '300', ...extra }));
    const workerTree = path.join(i.workDir, 'nodes', i.node, WORKER_PV_PATH);
    const differs = (await apiFiles(i))[1]!;
    const apiBytes = await readFile(path.join(i.storagePath, differs));
    await put(workerTree, differs, 'the worker wrote another version');
    await put(workerTree, 'image_files/t/only-in-worker.png', 'png');

    const plan = await runConvert(readConvertConfig(read({ phase: 'plan' }), {}, noMask), log);
    expect(plan.plan.blockers.map((b) => [b.code, b.message])).toEqual([
      [
        'tree-conflicts',
        expect.stringContaining(
          `1 key(s) are in several storage trees with different content: ${JSON.stringify(differs)} (dify-api ≠ dify-worker). Neither copy is overwritten with the other`,
        ),
      ],
    ]);
    // A tree this runner does not see: the backup refuses before writing anything.
    await rename(workerTree, `${workerTree}.away`);
    await expect(runBackup(readBackupConfig(read(), {}, noMask), log)).rejects.toThrow(
      `The install keeps its files in several storage trees and the backup must take them all: dify-worker keeps its own files in claim "dify-worker-storage" → local PV "dify-worker-pv" ${WORKER_PV_PATH} on node node-a, which this runner does not see at ${workerTree}. Nothing was written.`,
    );
    await rename(`${workerTree}.away`, workerTree);
    expect(await readdir(path.join(i.workDir, 'backups')).catch(() => [])).toEqual([]);
    const backup = await runBackup(readBackupConfig(read(), {}, noMask), log);
    const bulk = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log);
    expect(bulk.mode !== 'verify' && bulk.trees?.map((t) => t.conflicts)).toEqual([[differs]]);
    const s3 = installS3Client(i);
    try {
      // The bucket holds the api's bytes; the worker's version did not overwrite them.
      expect(await getObject(s3, i.bucket, differs)).toEqual(apiBytes);
      expect((await getObject(s3, i.bucket, 'image_files/t/only-in-worker.png')).toString()).toBe(
        'png',
      );
    } finally {
      s3.destroy();
    }
    const before = originalObjects(i);
    await expect(
      runConvert(
        readConvertConfig(
          read({ phase: 'cutover', 'backup-id': backup.backup!.record.id }),
          {},
          noMask,
        ),
        log,
      ),
    ).rejects.toThrow(
      new RegExp(
        `key\\(s\\) are in several storage trees with different content: ${JSON.stringify(differs).replace(/[.]/g, '\\.')}.*Nothing was changed\\.`,
        's',
      ),
    );
    expect(originalObjects(i)).toEqual(before);
    // Neither tree was touched.
    expect(await readFile(path.join(workerTree, differs), 'utf8')).toBe(
      'the worker wrote another version',
    );
    expect(await readFile(path.join(i.storagePath, differs))).toEqual(apiBytes);
  }, 300_000);
});
