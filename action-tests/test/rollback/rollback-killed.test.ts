/**
 * issue 8: a rollback killed half way (SIGKILL, in a process of its own) and run again ends in
 * the same state as an uninterrupted one: the same files with the same hashes in the storage
 * directory, the same objects in the cluster, the original content moved aside, no lock left.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LockHeldError } from '@dify-storage/kube';
import { readRollbackConfig, runRollback } from '@dify-storage/operations';
import { REPO_ROOT } from '../../src/proving-ground/index.js';
import {
  clusterView,
  expectedTree,
  inputValues,
  isHostPathConfig,
  log,
  migratedInstall,
  noMask,
  putObject,
  reader,
  treeOf,
  type Migrated,
} from './support.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rollback-child.ts');

interface State {
  asideStamps?: string[];
  storageRestoredAt?: string;
  copyBackStartedAt?: string;
  completedAt?: string;
}

/**
 * Starts a rollback in a child process and SIGKILLs it as soon as `when` holds for its state
 * file (or after `maxMs`). Answers whether the kill landed before the child finished.
 */
async function runAndKill(
  values: Record<string, string>,
  statePath: string,
  when: (s: State) => boolean | Promise<boolean>,
  maxMs: number,
): Promise<{ killed: boolean; state: State; output: string }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CHILD], {
    cwd: REPO_ROOT,
    env: { ...process.env, DSM_ROLLBACK_INPUTS: JSON.stringify(values) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const deadline = Date.now() + maxMs;
  let state: State = {};
  while (!exited && Date.now() < deadline) {
    state = JSON.parse(await readFile(statePath, 'utf8').catch(() => '{}')) as State;
    if (await when(state)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const killed = !exited;
  if (killed) child.kill('SIGKILL');
  await exit;
  if (process.env.DSM_TEST_VERBOSE) process.stdout.write(`child (killed: ${killed}):\n${output}\n`);
  state = JSON.parse(await readFile(statePath, 'utf8').catch(() => '{}')) as State;
  return { killed, state, output };
}

const COLLISION = 'upload_files';

describe('a rollback killed half way and run again', () => {
  let m: Migrated;
  let before: Map<string, string>;
  const runId = `killed-rollback-${randomBytes(3).toString('hex')}`;
  const values = () =>
    inputValues(m.install, { 'run-id': runId, 'backup-id': m.backupId, 'rollout-timeout': '60' });
  const statePath = () => path.join(m.install.workDir, 'backups', `rollback-${m.backupId}.json`);

  beforeAll(async () => {
    m = await migratedInstall(60);
    // More written on S3, so the copy back lasts long enough to be interrupted too.
    for (let i = 0; i < 60; i++) {
      await putObject(m.s3, m.install.bucket, `upload_files/late/${i}.bin`, randomBytes(400_000));
    }
    // An object that collides with a restored directory (issue 14 §5): refused, never a wedge.
    await putObject(m.s3, m.install.bucket, COLLISION, Buffer.from('collides'));
    before = await treeOf(m.install.storagePath);
  }, 120_000);
  afterAll(async () => {
    m?.s3.destroy();
    await m?.install.stop();
  });

  it('converges to the state of an uninterrupted rollback', async () => {
    // 1. Killed once the storage step began (the original content is being moved aside).
    const k1 = await runAndKill(
      values(),
      statePath(),
      (s) => Boolean(s.asideStamps?.length),
      60_000,
    );
    expect(k1.killed).toBe(true);
    expect(k1.state.completedAt).toBeUndefined();
    // The killed run's lock is still there; another run id is told who holds it and how to resume.
    expect(clusterView(m.install).leases).toEqual(['dify-storage-migration']);
    const other = readRollbackConfig(reader({ ...values(), 'run-id': 'someone-else' }), {}, noMask);
    const refused = await runRollback(other, log).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockHeldError);
    expect((refused as Error).message).toContain(`run again with run-id "${runId}"`);

    // 1b. As if a run had died between moveAside's rename and its mkdir (a window too short for
    // a SIGKILL to hit reliably): the directory is gone, its content aside, only the stamp noted.
    // The first kill may itself have landed anywhere around its own move aside (before the
    // rename, between rename and mkdir, before the state noted the directory): all must resume.
    const stamp = '20000101T000000Z';
    const diedMidMove = `${m.install.storagePath}.pre-rollback-${stamp}`;
    // When the first kill itself landed between its rename and its mkdir, the directory is
    // already gone: do that mkdir, as the resumed run would find it either way.
    await mkdir(m.install.storagePath, { recursive: true });
    await rename(m.install.storagePath, diedMidMove);
    const st = JSON.parse(await readFile(statePath(), 'utf8')) as State;
    await writeFile(
      statePath(),
      JSON.stringify({ ...st, asideStamps: [...(st.asideStamps ?? []), stamp] }),
    );

    // 2. Killed again in the middle of a download of the copy back.
    const lateDir = path.join(m.install.storagePath, 'upload_files', 'late');
    const k2 = await runAndKill(
      values(),
      statePath(),
      async (s) =>
        Boolean(s.copyBackStartedAt) &&
        (await readdir(lateDir).catch(() => [] as string[])).some((n) => n.endsWith('.partial')),
      60_000,
    );
    expect(k2.killed).toBe(true);
    expect(k2.state.completedAt).toBeUndefined();
    // The list of copied-back keys is written as they come: the kill left its temporary file.
    const backupDir = values()['backup-dir']!;
    const listTmp = async () =>
      (await readdir(backupDir)).filter((n) => /-copied-back\.json\.[0-9a-f]{12}\.tmp$/.test(n));
    expect(await listTmp()).toHaveLength(1);

    // 3. Run to the end, in this process, with the same run id (it re-takes its own lock).
    const r = await runRollback(readRollbackConfig(reader(values()), {}, noMask), log);
    expect(r.noop).toBe(false);
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.copyBack!.failed).toBe(0);
    expect(r.copyBack!.refusedKeys).toContainEqual(
      expect.stringMatching(/^upload_files: collides/),
    );
    expect(await listTmp()).toEqual([]);
    const list = JSON.parse(await readFile(r.copyBack!.listPath, 'utf8')) as { copied: string[] };
    expect(list.copied).toHaveLength(r.copyBack!.copied);
    expect(r.copyBack!.sample).toEqual(list.copied.slice(0, 100));

    // The storage directory: exactly the backup plus everything written on S3, nothing else
    // (no partial downloads or extractions of the killed runs).
    expect(await treeOf(m.install.storagePath)).toEqual(
      await expectedTree(m, new Set([COLLISION])),
    );
    // The original content was moved aside first and is whole; later asides hold only what the
    // killed runs had extracted.
    expect(r.movedAside.length).toBeGreaterThanOrEqual(1);
    expect(await treeOf(r.movedAside[0]!)).toEqual(before);
    expect(r.movedAside).toContain(diedMidMove);

    // The cluster: as after an uninterrupted rollback.
    const view = clusterView(m.install);
    expect(view.deployments).toEqual([]);
    expect(view.statefulSets).toEqual({
      'dify-api': { replicas: 1, volumes: expect.anything() },
      'dify-worker': { replicas: 1, volumes: expect.anything() },
    });
    expect(JSON.stringify(view.statefulSets)).toContain('"hostPath"');
    expect(isHostPathConfig(view.configMap)).toBe(true);
    expect(view.secrets).not.toContain('dify-s3-credentials');
    expect(view.leases).toEqual([]);

    // And a further run changes nothing.
    const again = await runRollback(readRollbackConfig(reader(values()), {}, noMask), log);
    expect(again.noop).toBe(true);
    expect(again.journal).toEqual([]);
  }, 150_000);
});
