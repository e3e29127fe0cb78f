import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BlockedError, ConfigurationError } from '@dify-storage/action-kit';
import {
  isWithin,
  realPathOrSelf,
  storagePathRefusal,
  writeJsonAtomic,
  AtomicFileWriter,
} from '@dify-storage/common';
import {
  findBackup,
  latestBackup,
  moveAside,
  resolveBackupFile,
  restoreBackup,
  utcStamp,
  type LocatedBackup,
  type RestoreBackupResult,
} from '@dify-storage/backup';
import { DifyApi, createdSince, normalizeFsPath, privateKeyKey } from '@dify-storage/dify';
import {
  DEFAULT_SECRET_NAME,
  LockHeldError,
  acquireLock,
  objectPath,
  releaseLock,
  renewLock,
  restoreObjects,
  scaleWorkload,
  waitForRollout,
  type JournalEntry,
  type KubeClient,
  type KubeObject,
  type LockHandle,
  type Workload,
} from '@dify-storage/kube';
import { stateDirProblem, syncFromBucket, type SyncReport } from '@dify-storage/sync';
import { progressOf, transferLine, type Logger } from './logger.js';
import { movedPluginDaemonNote } from './plugin-daemon-run.js';
import { requireCompleteSnapshot } from './record-check.js';
import type { RollbackConfig } from './rollback-config.js';
import { kubeClient } from './targets.js';
import { treeStateDir } from './tree-compare.js';

/** Where the restore of one storage tree stands. */
interface TreeRestoreState {
  /**
   * Stamps of every move aside begun, in order, each noted before its rename: finds the
   * directories of a run that died mid-move. Append-only, so no aside is ever forgotten.
   */
  asideStamps?: string[];
  /** Set once the archive was extracted and verified into the storage directory. */
  storageRestoredAt?: string;
  movedAside: string[];
  restore?: RestoreBackupResult;
}

/** Progress of a rollback on disk, so an interrupted run resumes instead of redoing a step. */
interface RollbackState extends TreeRestoreState {
  backupId: string;
  startedAt: string;
  /** The run id that started this rollback (named when its lock blocks another run). */
  holder?: string;
  /** The restores of the other storage trees, by slug (shapes 3 and 4). */
  trees?: Record<string, TreeRestoreState>;
  copyBack?: {
    copied: number;
    bytes: number;
    refused: number;
    failed: number;
    /** Every key copied back and refused (JSON); the first 100 and the refused also here. */
    listPath: string;
    sample?: string[];
    refusedKeys?: string[];
  };
  /** Set when a copy back began: a resumed run clears the temporary files a killed one left. */
  copyBackStartedAt?: string;
  completedAt?: string;
}

export interface RollbackCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RollbackResult {
  backupId: string;
  noop: boolean;
  message: string;
  journal: JournalEntry[];
  storagePath: string;
  movedAside: string[];
  restore?: RestoreBackupResult;
  /** The other storage trees, each restored into the directory it was taken of. */
  trees?: {
    label: string;
    storagePath: string;
    backupId: string;
    movedAside: string[];
    restore?: RestoreBackupResult;
  }[];
  copyBack?: Required<NonNullable<RollbackState['copyBack']>>;
  downtimeSeconds: number;
  checks: RollbackCheck[];
  /** What this rollback leaves as it is, e.g. a plugin daemon moved to its own bucket. */
  notes?: string[];
  reportPath: string;
}

async function locate(config: RollbackConfig): Promise<LocatedBackup> {
  const located = config.backupId
    ? await findBackup(config.backupDir, config.backupId)
    : await latestBackup(config.backupDir, { namespace: config.kube.namespace });
  const missing = located.record.kubernetes.objects.filter(
    (o) => !o.sanitizedFile || !existsSync(path.join(config.backupDir, o.sanitizedFile)),
  );
  if (located.record.kubernetes.objects.length === 0 || missing.length > 0) {
    throw new BlockedError(
      `Backup ${located.record.id} has no complete Kubernetes snapshot (${missing.map((o) => `${o.kind}/${o.name}`).join(', ') || 'no objects'}); it cannot restore the workloads. Nothing was changed.`,
    );
  }
  requireCompleteSnapshot(
    `Backup ${located.record.id}`,
    located.record.kubernetes.objects,
    config.apiName,
    config.workerName,
  );
  if (located.record.namespace && located.record.namespace !== config.kube.namespace) {
    throw new ConfigurationError(
      `Backup ${located.record.id} is of namespace ${located.record.namespace}, not ${config.kube.namespace}.`,
    );
  }
  return located;
}

async function readState(file: string, backupId: string): Promise<RollbackState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { backupId, startedAt: new Date().toISOString(), movedAside: [] };
    }
    throw error;
  }
  try {
    return JSON.parse(text) as RollbackState;
  } catch {
    // Starting afresh would move the restored files aside again: let a person look first.
    throw new ConfigurationError(
      `The rollback state file ${file} is damaged; move it away to start this rollback afresh.`,
    );
  }
}

/** Lease lifetime: short, renewed while the run lives, so a killed run blocks others briefly. */
const LOCK_TTL_SECONDS = 300;

async function takeLock(
  client: KubeClient,
  namespace: string,
  holder: string,
  state: RollbackState,
  log: Logger,
): Promise<{ lock: LockHandle; stop: () => void }> {
  let lock: LockHandle;
  try {
    lock = await acquireLock(client, { namespace, holder, ttlSeconds: LOCK_TTL_SECONDS });
  } catch (error) {
    if (error instanceof LockHeldError && state.holder === error.holder && !state.completedAt) {
      throw new LockHeldError(
        `${error.message}. That run started this rollback at ${state.startedAt} and did not finish: if it was killed, run again with run-id "${error.holder}" to resume at once.`,
        error.holder,
        error.since,
        error.expiresAt,
      );
    }
    throw error;
  }
  if (lock.tookOver) log.warn(`took the expired migration lock over from "${lock.tookOver}"`);
  const timer = setInterval(
    () =>
      void renewLock(client, lock).catch((e: unknown) =>
        log.warn(`could not renew the migration lock: ${(e as Error).message}`),
      ),
    (LOCK_TTL_SECONDS / 5) * 1000,
  );
  timer.unref();
  return { lock, stop: () => clearInterval(timer) };
}

/** Whether the cutover's Deployments are back, i.e. the namespace was migrated again. */
async function migratedAgain(
  client: KubeClient,
  namespace: string,
  statefulSets: Workload[],
): Promise<boolean> {
  for (const sts of statefulSets) {
    const name = sts.metadata!.name!;
    if (await client.getOrNull(objectPath('Deployment', namespace, name))) return true;
  }
  return false;
}

/** The directories a move aside with this stamp made (moveAside names them after the stamp). */
async function findAsides(storagePath: string, stamps: string[] = []): Promise<string[]> {
  const parent = path.dirname(storagePath);
  const names = (await readdir(parent).catch(() => [] as string[])).sort();
  return stamps.flatMap((stamp) => {
    const base = `${path.basename(storagePath)}.pre-rollback-${stamp}`;
    return names
      .filter(
        (n) => n === base || (n.startsWith(`${base}-`) && /^\d+$/.test(n.slice(base.length + 1))),
      )
      .map((n) => path.join(parent, n));
  });
}

/** Removes the copied-back list's temporary files a killed copy back left beside it. */
async function removeListLeftovers(listPath: string): Promise<void> {
  const dir = path.dirname(listPath);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (AtomicFileWriter.isTemporaryOf(listPath, name))
      await rm(path.join(dir, name), { force: true });
  }
}

/** Removes the temporary files of an interrupted copy back (syncFromBucket's `.dsm-*.partial`). */
async function removePartials(root: string): Promise<number> {
  let removed = 0;
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (e.isFile() && /^\.dsm-[0-9a-f]{12}-[0-9a-f]{8}\.partial$/.test(e.name)) {
      await rm(path.join(e.parentPath, e.name), { force: true });
      removed += 1;
    }
  }
  return removed;
}

/**
 * The storage path a rollback restores into: the backup record's. A different path given as
 * input is refused (restoring one tree into another directory moves that directory aside), and
 * so is a record naming a system directory (a tampered record).
 */
function recordedStoragePath(given: string | undefined, recorded: string, id: string): string {
  const refusal = storagePathRefusal(recorded);
  if (refusal) throw new ConfigurationError(`Backup ${id} names storage path ${refusal}.`);
  if (given !== undefined && realPathOrSelf(given) !== realPathOrSelf(recorded)) {
    throw new ConfigurationError(
      `Input 'storage-path' is '${given}', but backup ${id} was taken of ${recorded}: a rollback ` +
        `restores into the directory it was taken of (leave storage-path empty, or pass ${recorded}).`,
    );
  }
  return recorded;
}

/** One storage tree to restore: the primary (the backup's own), or another the record names. */
interface RollbackTree {
  label: string;
  slug: string;
  dir: string;
  located: LocatedBackup;
  /** The bulk copy's state of this tree, when it can be read safely (see copyBackInto). */
  stateDir?: string;
}

/** Everything a rollback needs, found and checked before the first change. */
interface PreparedRollback {
  located: LocatedBackup;
  trees: RollbackTree[];
  statePath: string;
  state: RollbackState;
  /** api and worker StatefulSets, ConfigMaps, Services, claims (restored as they were). */
  objects: KubeObject[];
  /** The other storage writers the cutover froze (their replicas or suspend come back). */
  others: KubeObject[];
  secrets: KubeObject[];
  statefulSets: Workload[];
}

/** The restore state of tree `n`: the rollback state itself for the primary. */
function treeState(state: RollbackState, tree: RollbackTree, n: number): TreeRestoreState {
  if (n === 0) return state;
  state.trees ??= {};
  return (state.trees[tree.slug] ??= { movedAside: [] });
}

/**
 * Every tree of the backup (shapes 3 and 4 have several), each at the directory it was taken of,
 * with its own verified backup; a directory missing on this runner is refused.
 */
async function rollbackTrees(
  config: RollbackConfig,
  located: LocatedBackup,
  state: RollbackState,
): Promise<RollbackTree[]> {
  const { record } = located;
  const storagePath = recordedStoragePath(config.storagePath, record.storageDir, record.id);
  const trees: RollbackTree[] = [{ label: 'storage', slug: 'storage', dir: storagePath, located }];
  for (const t of (record.kubernetes.storageTrees ?? []).slice(1)) {
    const dir = recordedStoragePath(undefined, t.storageDir, record.id);
    trees.push({
      label: t.label,
      slug: t.slug,
      dir,
      located: await findBackup(config.backupDir, t.backupId),
    });
  }
  for (const [n, tree] of trees.entries()) {
    const own = treeState(state, tree, n);
    // A run killed between moveAside's rename and its mkdir left no directory: that is resumable.
    const diedMidMove =
      !existsSync(tree.dir) &&
      !own.storageRestoredAt &&
      (await findAsides(tree.dir, own.asideStamps)).length > 0;
    if (!diedMidMove && (!existsSync(tree.dir) || !(await stat(tree.dir)).isDirectory())) {
      throw new ConfigurationError(
        `The storage directory ${tree.dir} does not exist on this runner: is it on the node of backup ${record.id} (${record.nodeName ?? 'unknown'})?`,
      );
    }
  }
  return trees;
}

/** Reads the snapshot's objects and the node-local Secrets, sorted by what rollback does with them. */
async function readSnapshot(
  config: RollbackConfig,
  located: LocatedBackup,
): Promise<Pick<PreparedRollback, 'objects' | 'others' | 'secrets' | 'statefulSets'>> {
  const { record } = located;
  const workloadNames = [config.apiName, config.workerName];
  const kinds = [
    'StatefulSet',
    'ConfigMap',
    'Service',
    'PersistentVolumeClaim',
    'Deployment',
    'CronJob',
  ];
  const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as KubeObject;
  const saved = await Promise.all(
    record.kubernetes.objects
      .filter((o) => kinds.includes(o.kind))
      .map((o) => readJson(path.join(config.backupDir, o.sanitizedFile!))),
  );
  const secrets = await Promise.all(
    (record.kubernetes.nodeLocalSecrets ?? []).map((s) =>
      readJson(resolveBackupFile(config.backupDir, s.file)),
    ),
  );
  // api and worker come back as StatefulSets; other workloads in the snapshot are the storage
  // writers the cutover froze (they get their replicas or suspend back).
  const isWorkload = (o: KubeObject) =>
    ['StatefulSet', 'Deployment', 'CronJob'].includes(String(o.kind));
  const ours = (o: KubeObject) => workloadNames.includes(o.metadata?.name ?? '');
  const objects = saved.filter((o) => !isWorkload(o) || (o.kind === 'StatefulSet' && ours(o)));
  const others = saved.filter((o) => isWorkload(o) && !ours(o));
  const statefulSets = objects.filter((o) => o.kind === 'StatefulSet') as Workload[];
  return { objects, others, secrets, statefulSets };
}

async function prepareRollback(config: RollbackConfig, log: Logger): Promise<PreparedRollback> {
  const located = await locate(config);
  const statePath = path.join(config.backupDir, `rollback-${located.record.id}.json`);
  const state = await readState(statePath, located.record.id);
  const trees = await rollbackTrees(config, located, state);
  for (const [n, tree] of trees.entries()) {
    // migrate-to-s3's state of the tree (as the cutover's delta used it). It only spares the copy
    // back reading the restored files: one it cannot trust is left aside, not a reason to stop.
    const dir = n === 0 ? config.stateDir : treeStateDir(config.stateDir, tree);
    const problem = insideTree(dir, trees) ?? (await stateDirProblem(dir));
    if (problem) log.warn(`${problem} The copy back reads the restored files instead.`);
    else tree.stateDir = dir;
  }
  return { located, trees, statePath, state, ...(await readSnapshot(config, located)) };
}

/** Why a state directory inside a storage tree is not trusted (a Dify pod can write there). */
function insideTree(stateDir: string, trees: RollbackTree[]): string | undefined {
  const t = trees.find((tree) => isWithin(stateDir, tree.dir));
  return t
    ? `The state directory ${stateDir} is inside the storage tree ${t.dir}, where a Dify pod can write: its records are not used.`
    : undefined;
}

/**
 * rollback: back to the hostPath system of a backup, losing nothing written since. Workloads and
 * ConfigMap from the snapshot; every storage tree moved aside (never deleted), extracted and
 * verified; then every object the bucket gained after the backup copied back (path-safe,
 * verified, atomic). Resumable through a state file beside the backup; a second run on a
 * restored system changes nothing and says so.
 */
export async function runRollback(config: RollbackConfig, log: Logger): Promise<RollbackResult> {
  // Everything that can be wrong with the request is found before the first change.
  const prepared = await prepareRollback(config, log);
  const client = kubeClient(config.kube);
  const namespace = config.kube.namespace;
  const held = await takeLock(client, namespace, config.runId, prepared.state, log);
  try {
    return await new RollbackRun(config, log, client, prepared).run();
  } finally {
    held.stop();
    await releaseLock(client, held.lock).catch(() => undefined);
  }
}

/** One rollback under the lock, as named stages. */
class RollbackRun {
  private readonly journal: JournalEntry[] = [];
  private readonly namespace: string;
  private readonly timeoutMs: number;
  private state: RollbackState;

  constructor(
    private readonly config: RollbackConfig,
    private readonly log: Logger,
    private readonly client: KubeClient,
    private readonly p: PreparedRollback,
  ) {
    this.namespace = config.kube.namespace;
    this.timeoutMs = config.rolloutTimeoutSeconds * 1000;
    this.state = p.state;
  }

  private save(): Promise<void> {
    return writeJsonAtomic(this.p.statePath, this.state);
  }

  async run(): Promise<RollbackResult> {
    const downStarted = Date.now();
    await this.startAfresh();
    if (!this.state.completedAt) {
      this.state.holder = this.config.runId;
      await this.save();
    }
    // 1. Workloads and ConfigMap; StatefulSets come back at zero replicas until the files are
    // back. After a completed rollback the snapshot's own replicas are the target, so a re-run
    // compares equal and changes nothing.
    const objectsResult = await restoreObjects(this.client, {
      namespace: this.namespace,
      objects: this.p.objects,
      secrets: this.p.secrets,
      others: this.p.others,
      secretName: DEFAULT_SECRET_NAME,
      caBundle: true,
      ...(this.state.completedAt ? {} : { statefulSetReplicas: 0 }),
      timeoutMs: this.timeoutMs,
      logger: this.log,
      onJournal: (e) => this.journal.push(e),
    });
    // 2. Every storage tree, once per rollback (a later run must not move aside newer files).
    for (const [n, tree] of this.p.trees.entries())
      await this.restoreTree(tree, treeState(this.state, tree, n));
    // 3. Everything the bucket gained since the backup: not in the manifests, or different.
    const copyBack = await this.copyBack();
    // 4. The old system back up, as it was.
    await this.scaleUp();
    const downtimeSeconds =
      objectsResult.noop && this.journal.length === 0
        ? 0
        : Math.round((Date.now() - downStarted) / 1000);
    return this.finish(copyBack, downtimeSeconds);
  }

  /** Rolled back once, migrated again since: this is a new rollback, with its own files. */
  private async startAfresh(): Promise<void> {
    const { state, p } = this;
    if (!state.completedAt || !(await migratedAgain(this.client, this.namespace, p.statefulSets)))
      return;
    const stamp = utcStamp(new Date(state.completedAt));
    const done = p.statePath.replace(/\.json$/, `-${stamp}.json`);
    if (state.copyBack && existsSync(state.copyBack.listPath)) {
      const list = state.copyBack.listPath.replace(/\.json$/, `-${stamp}.json`);
      await rename(state.copyBack.listPath, list);
      state.copyBack.listPath = list;
      await this.save();
    }
    await rename(p.statePath, done);
    this.log.info(
      `an earlier rollback to ${p.located.record.id} completed; its record is now ${done}`,
    );
    this.state = {
      backupId: p.located.record.id,
      startedAt: new Date().toISOString(),
      movedAside: [],
    };
  }

  /** Moves the tree's directory aside (never deleting) and extracts its archive, verified. */
  private async restoreTree(tree: RollbackTree, own: TreeRestoreState): Promise<void> {
    if (own.storageRestoredAt) return;
    const dir = tree.dir;
    // A run died during or right after a move aside: record where that content went.
    for (const aside of await findAsides(dir, own.asideStamps)) {
      if (!own.movedAside.includes(aside)) own.movedAside.push(aside);
    }
    if (!existsSync(dir)) {
      // Everything is aside already; recreate the directory as moveAside would have.
      const mode = (await stat(own.movedAside[own.movedAside.length - 1]!)).mode & 0o7777;
      await mkdir(dir, { mode });
      this.log.info(`re-created ${dir}; its content is in ${own.movedAside.join(', ')}`);
    } else {
      // What is in the directory now (the original content, or a partial extraction of an
      // interrupted run) is moved aside, never deleted, and the archive extracted afresh.
      const now = new Date();
      (own.asideStamps ??= []).push(utcStamp(now));
      await this.save();
      const aside = await moveAside(dir, now);
      own.movedAside.push(aside);
      await this.save();
      this.log.info(
        own.movedAside.length > 1
          ? `moved the partial restore of an interrupted run aside to ${aside}; the original content is in ${own.movedAside[0]}`
          : `moved the current content of ${dir} aside to ${aside} (nothing deleted)`,
      );
    }
    const { located } = tree;
    own.restore = await restoreBackup({
      archivePath: located.archivePath,
      manifestPath: located.manifestPath,
      targetDir: dir,
      expectedArchiveSha256: located.record.archive.sha256,
      onProgress: (p) => progressOf(this.log)(transferLine(p, located.record.counts.dataBytes)),
    });
    own.storageRestoredAt = new Date().toISOString();
    await this.save();
    this.log.info(
      `restored ${own.restore.files} files from ${located.archivePath}, each verified against the manifest`,
    );
  }

  /**
   * Objects the bucket gained or changed since the backup, into every tree: after the cutover
   * every api and worker pod read every key from the bucket, so each tree gets them all back and
   * whichever workload reads a key finds it. A tree skips another tree's files the bucket holds
   * unchanged (its manifest stands in), so no tree gains the other's original files.
   */
  private async copyBack(): Promise<NonNullable<RollbackResult['copyBack']>> {
    const { state, p } = this;
    const listPath = path.join(
      this.config.backupDir,
      `rollback-${p.located.record.id}-copied-back.json`,
    );
    // Done by an earlier run: its list is the record of what was copied and refused.
    if (state.copyBack) {
      const { sample = [], refusedKeys = [] } = state.copyBack;
      return { ...state.copyBack, sample, refusedKeys };
    }
    if (state.copyBackStartedAt) {
      let removed = 0;
      for (const tree of p.trees) removed += await removePartials(tree.dir);
      if (removed)
        this.log.info(`removed ${removed} partial download(s) of the interrupted copy back`);
      await removeListLeftovers(listPath);
    }
    state.copyBackStartedAt = new Date().toISOString();
    await this.save();
    // The keys copied back go to the list as they come (a rollback weeks after the cutover may
    // copy back millions): only the first 100 stay in memory.
    const list = await AtomicFileWriter.open(listPath);
    const sample: string[] = [];
    let listed = 0;
    // A failed write of the list is not the object's failure (it is in place): kept, thrown after.
    let listError: unknown;
    const refusedKeys: string[] = [];
    const reports: SyncReport[] = [];
    try {
      list.write('{\n  "copied": [');
      for (const [n, tree] of p.trees.entries()) {
        const report = await this.copyBackInto(tree, n, (rel) => {
          // The primary's keys as they are; another tree's named after it.
          const key = n === 0 ? rel : `${tree.label}: ${rel}`;
          if (sample.length < 100) sample.push(key);
          try {
            list.write(`${listed++ ? ',' : ''}\n    ${JSON.stringify(key)}`);
          } catch (error) {
            listError ??= error;
          }
        });
        for (const issue of report.refused) refusedKeys.push(`${issue.path}: ${issue.reason}`);
        reports.push(report);
      }
      if (listError !== undefined) throw listError;
      list.write(`${listed ? '\n  ' : ''}],\n  "refused": ${JSON.stringify(refusedKeys)}\n}\n`);
    } catch (error) {
      await list.abort();
      throw error;
    }
    await list.commit();
    const sum = (f: (r: SyncReport) => number) => reports.reduce((t, r) => t + f(r), 0);
    if (sum((r) => r.counts.failed) > 0) {
      throw new Error(
        `${sum((r) => r.counts.failed)} object(s) could not be copied back; run the rollback again to retry them`,
      );
    }
    state.copyBack = {
      copied: sum((r) => r.counts.copied),
      bytes: sum((r) => r.bytes.copied),
      refused: sum((r) => r.counts.refused),
      failed: 0,
      listPath,
      sample,
      refusedKeys,
    };
    await this.save();
    return { ...state.copyBack, sample, refusedKeys };
  }

  private copyBackInto(
    tree: RollbackTree,
    n: number,
    onCopied: (key: string) => void,
  ): Promise<SyncReport> {
    const manifests = this.p.trees.map((t) => t.located.manifestPath);
    const others = manifests.filter((_, k) => k !== n);
    return syncFromBucket({
      target: this.config.s3,
      root: tree.dir,
      manifest: manifests[n]!,
      // Copying back into one tree leaves alone the objects another tree's backup holds
      // unchanged (the tree's own record of a path stands).
      otherManifests: others,
      // findBackup checked each manifest's sha256 against its record: the backup's own, in order.
      backupManifests: true,
      // The bulk copy's records of this tree: sha256 → md5 (prepareRollback checked it).
      ...(tree.stateDir ? { stateDir: tree.stateDir } : {}),
      // The reverse of the key fix-up: an object at `…/U.pdf ` is the file `…/U.pdf` on fs.
      keyToPath: normalizeFsPath,
      throwOnFailure: false,
      onCopied,
      onProgress: (e) =>
        progressOf(this.log)(`copy back: ${e.filesDone} objects, ${e.copied} copied`),
    });
  }

  private async scaleUp(): Promise<void> {
    const { client, namespace } = this;
    for (const sts of this.p.statefulSets) {
      const name = sts.metadata!.name!;
      const want = sts.spec?.replicas ?? 1;
      const { changed, previous } = await scaleWorkload(
        client,
        namespace,
        { kind: 'StatefulSet', name },
        want,
      );
      if (changed) {
        this.journal.push({
          at: new Date().toISOString(),
          action: 'scaled',
          kind: 'StatefulSet',
          name,
          detail: `replicas ${previous} → ${want}`,
        });
      }
    }
    for (const sts of this.p.statefulSets) {
      await waitForRollout(client, {
        namespace,
        kind: 'StatefulSet',
        name: sts.metadata!.name!,
        timeoutMs: this.timeoutMs,
        logger: this.log,
      });
    }
  }

  /** Marks the rollback complete, checks the old system, writes the report. */
  private async finish(
    copyBack: NonNullable<RollbackResult['copyBack']>,
    downtimeSeconds: number,
  ): Promise<RollbackResult> {
    const { state, p, config, namespace } = this;
    const record = p.located.record;
    const storagePath = p.trees[0]!.dir;
    const wasDone = state.completedAt !== undefined;
    state.completedAt ??= new Date().toISOString();
    await this.save();
    const checks = await checkOldSystem(config, storagePath, new Date(record.createdAt));
    // Informational: a listing refused (a narrower Role) must not fail a finished rollback.
    const daemon = await movedPluginDaemonNote(this.client, namespace).catch((e: Error) => {
      this.log.warn(`could not look for a moved plugin daemon: ${e.message}`);
      return undefined;
    });
    if (daemon) this.log.warn(daemon);
    const noop = wasDone && this.journal.length === 0;
    const others = p.trees.slice(1).map((t, k) => ({ tree: t, own: treeState(state, t, k + 1) }));
    const result: RollbackResult = {
      backupId: record.id,
      noop,
      message: noop
        ? `namespace ${namespace} is already restored from backup ${record.id}: nothing changed`
        : `restored namespace ${namespace} and ${p.trees.map((t) => t.dir).join(', ')} from backup ${record.id}`,
      journal: this.journal,
      storagePath,
      movedAside: state.movedAside,
      ...(state.restore ? { restore: state.restore } : {}),
      ...(others.length
        ? {
            trees: others.map(({ tree, own }) => ({
              label: tree.label,
              storagePath: tree.dir,
              backupId: tree.located.record.id,
              movedAside: own.movedAside,
              ...(own.restore ? { restore: own.restore } : {}),
            })),
          }
        : {}),
      copyBack,
      downtimeSeconds,
      checks,
      ...(daemon ? { notes: [daemon] } : {}),
      reportPath: config.reportPath,
    };
    await writeJsonAtomic(config.reportPath, result);
    return result;
  }
}

/** The old system answers, files written after the cutover are readable, new tenants' keys exist. */
async function checkOldSystem(
  config: RollbackConfig,
  storagePath: string,
  since: Date,
): Promise<RollbackCheck[]> {
  const checks: RollbackCheck[] = [];
  const api = config.difyUrl ? new DifyApi(config.difyUrl) : undefined;
  if (api) {
    try {
      const h = await api.health();
      checks.push({
        name: 'health',
        ok: h.status === 'ok',
        detail: `status ${h.status}, version ${h.version}`,
      });
    } catch (error) {
      checks.push({ name: 'health', ok: false, detail: (error as Error).message });
    }
  }
  if (!config.databaseUrl) return checks;
  const recent = await createdSince(config.databaseUrl, since);
  for (const tenant of recent.tenants) {
    const ok = existsSync(path.join(storagePath, privateKeyKey(tenant)));
    checks.push({
      name: `private key of tenant ${tenant}`,
      ok,
      detail: ok ? 'present' : 'missing on disk',
    });
  }
  for (const upload of recent.uploads.slice(0, 50)) {
    // Where Dify on OpenDAL fs reads it, not the verbatim key (dify-1.3.0-fidelity.md §3).
    const onDisk = existsSync(path.join(storagePath, normalizeFsPath(upload.key)));
    if (api && config.difySecretKey) {
      const f = await api.fetchFilePreview(upload.id, config.difySecretKey);
      // Size and hash are bytes only for API uploads (create-by-text stores characters, docx
      // images 0): compare them only there.
      const ok =
        f.status === 200 &&
        !f.truncated &&
        (!upload.sha3 || (f.bytes === upload.size && f.sha3 === upload.sha3));
      checks.push({
        name: `file ${upload.key}`,
        ok,
        detail: ok
          ? 'readable through file-preview, identical'
          : `status ${f.status}, ${f.bytes}/${upload.size} bytes${f.error ? `, ${f.error}` : ''}`,
      });
    } else {
      checks.push({
        name: `file ${upload.key}`,
        ok: onDisk,
        detail: onDisk ? 'on disk' : 'missing on disk',
      });
    }
  }
  return checks;
}
