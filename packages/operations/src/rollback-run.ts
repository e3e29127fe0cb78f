import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BlockedError, ConfigurationError } from '@dify-storage/action-kit';
import { realPathOrSelf, storagePathRefusal, writeJsonAtomic } from '@dify-storage/common';
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
import { syncFromBucket, type SyncReport } from '@dify-storage/sync';
import { progressOf, transferLine, type Logger } from './logger.js';
import { movedPluginDaemonNote } from './plugin-daemon-run.js';
import { requireCompleteSnapshot } from './record-check.js';
import type { RollbackConfig } from './rollback-config.js';
import { kubeClient } from './targets.js';

/** Progress of a rollback on disk, so an interrupted run resumes instead of redoing a step. */
interface RollbackState {
  backupId: string;
  startedAt: string;
  /** The run id that started this rollback (named when its lock blocks another run). */
  holder?: string;
  /**
   * Stamps of every move aside begun, in order, each noted before its rename: finds the
   * directories of a run that died mid-move. Append-only, so no aside is ever forgotten.
   */
  asideStamps?: string[];
  /** Set once the archive was extracted and verified into the storage directory. */
  storageRestoredAt?: string;
  movedAside: string[];
  restore?: RestoreBackupResult;
  copyBack?: { copied: number; bytes: number; refused: number; failed: number; listPath: string };
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
  copyBack?: RollbackState['copyBack'] & { sample: string[]; refusedKeys: string[] };
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

/**
 * rollback: back to the hostPath system of a backup, losing nothing written since. Workloads and
 * ConfigMap from the snapshot; the storage directory moved aside (never deleted), extracted and
 * verified; then every object the bucket gained after the backup copied back (path-safe,
 * verified, atomic). Resumable through a state file beside the backup; a second run on a
 * restored system changes nothing and says so.
 */
export async function runRollback(config: RollbackConfig, log: Logger): Promise<RollbackResult> {
  // Everything that can be wrong with the request is found before the first change.
  const located = await locate(config);
  const { record } = located;
  const storagePath = recordedStoragePath(config.storagePath, record.storageDir, record.id);
  const statePath = path.join(config.backupDir, `rollback-${record.id}.json`);
  let state = await readState(statePath, record.id);
  // A run killed between moveAside's rename and its mkdir left no directory: that is resumable.
  const diedMidMove =
    !existsSync(storagePath) &&
    !state.storageRestoredAt &&
    (await findAsides(storagePath, state.asideStamps)).length > 0;
  if (!diedMidMove && (!existsSync(storagePath) || !(await stat(storagePath)).isDirectory())) {
    throw new ConfigurationError(
      `The storage directory ${storagePath} does not exist on this runner: is it on the node of backup ${record.id} (${record.nodeName ?? 'unknown'})?`,
    );
  }
  const target = config.s3;
  const workloadNames = [config.apiName, config.workerName];
  const saved: KubeObject[] = await Promise.all(
    record.kubernetes.objects
      .filter((o) =>
        [
          'StatefulSet',
          'ConfigMap',
          'Service',
          'PersistentVolumeClaim',
          'Deployment',
          'CronJob',
        ].includes(o.kind),
      )
      .map(
        async (o) =>
          JSON.parse(
            await readFile(path.join(config.backupDir, o.sanitizedFile!), 'utf8'),
          ) as KubeObject,
      ),
  );
  const secrets: KubeObject[] = await Promise.all(
    (record.kubernetes.nodeLocalSecrets ?? []).map(
      async (s) =>
        JSON.parse(
          await readFile(resolveBackupFile(config.backupDir, s.file), 'utf8'),
        ) as KubeObject,
    ),
  );
  // api and worker come back as StatefulSets; other workloads in the snapshot are the storage
  // writers the cutover froze (they get their replicas or suspend back).
  const isWorkload = (o: KubeObject) =>
    ['StatefulSet', 'Deployment', 'CronJob'].includes(String(o.kind));
  const objects = saved.filter(
    (o) =>
      !isWorkload(o) ||
      (o.kind === 'StatefulSet' && workloadNames.includes(o.metadata?.name ?? '')),
  );
  const others = saved.filter(
    (o) => isWorkload(o) && !workloadNames.includes(o.metadata?.name ?? ''),
  );
  const statefulSets = objects.filter((o) => o.kind === 'StatefulSet') as Workload[];
  const client = kubeClient(config.kube);
  const namespace = config.kube.namespace;
  const { lock, stop: stopRenewal } = await takeLock(client, namespace, config.runId, state, log);
  const timeoutMs = config.rolloutTimeoutSeconds * 1000;
  const journal: JournalEntry[] = [];
  const downStarted = Date.now();
  let copyBack: RollbackResult['copyBack'];
  try {
    if (state.completedAt && (await migratedAgain(client, namespace, statefulSets))) {
      // Rolled back once, migrated again since: this is a new rollback, with its own files.
      const stamp = utcStamp(new Date(state.completedAt));
      const done = statePath.replace(/\.json$/, `-${stamp}.json`);
      if (state.copyBack && existsSync(state.copyBack.listPath)) {
        const list = state.copyBack.listPath.replace(/\.json$/, `-${stamp}.json`);
        await rename(state.copyBack.listPath, list);
        state.copyBack.listPath = list;
        await writeJsonAtomic(statePath, state);
      }
      await rename(statePath, done);
      log.info(`an earlier rollback to ${record.id} completed; its record is now ${done}`);
      state = { backupId: record.id, startedAt: new Date().toISOString(), movedAside: [] };
    }
    if (!state.completedAt) {
      state.holder = config.runId;
      await writeJsonAtomic(statePath, state);
    }
    // 1. Workloads and ConfigMap; StatefulSets come back at zero replicas until the files are
    // back. After a completed rollback the snapshot's own replicas are the target, so a re-run
    // compares equal and changes nothing.
    const objectsResult = await restoreObjects(client, {
      namespace,
      objects,
      secrets,
      others,
      secretName: DEFAULT_SECRET_NAME,
      caBundle: true,
      ...(state.completedAt ? {} : { statefulSetReplicas: 0 }),
      timeoutMs,
      logger: log,
      onJournal: (e) => journal.push(e),
    });
    // 2. The storage directory, once per rollback (a later run must not move aside newer files).
    if (!state.storageRestoredAt) {
      // A run died during or right after a move aside: record where that content went.
      for (const dir of await findAsides(storagePath, state.asideStamps)) {
        if (!state.movedAside.includes(dir)) state.movedAside.push(dir);
      }
      if (!existsSync(storagePath)) {
        // Everything is aside already; recreate the directory as moveAside would have.
        const mode = (await stat(state.movedAside[state.movedAside.length - 1]!)).mode & 0o7777;
        await mkdir(storagePath, { mode });
        log.info(`re-created ${storagePath}; its content is in ${state.movedAside.join(', ')}`);
      } else {
        // What is in the directory now (the original content, or a partial extraction of an
        // interrupted run) is moved aside, never deleted, and the archive extracted afresh.
        const now = new Date();
        (state.asideStamps ??= []).push(utcStamp(now));
        await writeJsonAtomic(statePath, state);
        const aside = await moveAside(storagePath, now);
        state.movedAside.push(aside);
        await writeJsonAtomic(statePath, state);
        log.info(
          state.movedAside.length > 1
            ? `moved the partial restore of an interrupted run aside to ${aside}; the original content is in ${state.movedAside[0]}`
            : `moved the current content of ${storagePath} aside to ${aside} (nothing deleted)`,
        );
      }
      state.restore = await restoreBackup({
        archivePath: located.archivePath,
        manifestPath: located.manifestPath,
        targetDir: storagePath,
        expectedArchiveSha256: record.archive.sha256,
        onProgress: (p) => progressOf(log)(transferLine(p, record.counts.dataBytes)),
      });
      state.storageRestoredAt = new Date().toISOString();
      await writeJsonAtomic(statePath, state);
      log.info(
        `restored ${state.restore.files} files from ${located.archivePath}, each verified against the manifest`,
      );
    }
    // 3. Everything the bucket gained since the backup: not in the manifest, or different.
    const copied: string[] = [];
    const refusedKeys: string[] = [];
    let report: SyncReport | undefined;
    const listPath = path.join(config.backupDir, `rollback-${record.id}-copied-back.json`);
    if (!state.copyBack) {
      if (state.copyBackStartedAt) {
        const removed = await removePartials(storagePath);
        if (removed)
          log.info(`removed ${removed} partial download(s) of the interrupted copy back`);
      }
      state.copyBackStartedAt = new Date().toISOString();
      await writeJsonAtomic(statePath, state);
      report = await syncFromBucket({
        target,
        root: storagePath,
        manifest: located.manifestPath,
        // The reverse of the key fix-up: an object at `…/U.pdf ` is the file `…/U.pdf` on fs.
        keyToPath: normalizeFsPath,
        throwOnFailure: false,
        onCopied: (key) => copied.push(key),
        onProgress: (e) => progressOf(log)(`copy back: ${e.filesDone} objects, ${e.copied} copied`),
      });
      for (const issue of report.refused) refusedKeys.push(`${issue.path}: ${issue.reason}`);
      await writeJsonAtomic(listPath, { copied, refused: refusedKeys });
      if (report.counts.failed > 0) {
        throw new Error(
          `${report.counts.failed} object(s) could not be copied back; run the rollback again to retry them`,
        );
      }
      state.copyBack = {
        copied: report.counts.copied,
        bytes: report.bytes.copied,
        refused: report.counts.refused,
        failed: report.counts.failed,
        listPath,
      };
      await writeJsonAtomic(statePath, state);
    } else {
      // Done by an earlier run: its list is the record of what was copied and refused.
      const earlier = JSON.parse(
        await readFile(state.copyBack.listPath, 'utf8').catch(() => '{}'),
      ) as {
        copied?: string[];
        refused?: string[];
      };
      copied.push(...(earlier.copied ?? []));
      refusedKeys.push(...(earlier.refused ?? []));
    }
    copyBack = { ...state.copyBack, sample: copied.slice(0, 100), refusedKeys };
    // 4. The old system back up, as it was.
    for (const sts of statefulSets) {
      const name = sts.metadata!.name!;
      const { changed, previous } = await scaleWorkload(
        client,
        namespace,
        { kind: 'StatefulSet', name },
        sts.spec?.replicas ?? 1,
      );
      if (changed) {
        journal.push({
          at: new Date().toISOString(),
          action: 'scaled',
          kind: 'StatefulSet',
          name,
          detail: `replicas ${previous} → ${sts.spec?.replicas ?? 1}`,
        });
      }
    }
    for (const sts of statefulSets) {
      await waitForRollout(client, {
        namespace,
        kind: 'StatefulSet',
        name: sts.metadata!.name!,
        timeoutMs,
        logger: log,
      });
    }
    const downtimeSeconds =
      objectsResult.noop && journal.length === 0
        ? 0
        : Math.round((Date.now() - downStarted) / 1000);
    const wasDone = state.completedAt !== undefined;
    state.completedAt ??= new Date().toISOString();
    await writeJsonAtomic(statePath, state);
    const checks = await checkOldSystem(config, storagePath, new Date(record.createdAt));
    // Informational: a listing refused (a narrower Role) must not fail a finished rollback.
    const daemon = await movedPluginDaemonNote(client, namespace).catch((e: Error) => {
      log.warn(`could not look for a moved plugin daemon: ${e.message}`);
      return undefined;
    });
    if (daemon) log.warn(daemon);
    const noop = wasDone && journal.length === 0;
    const result: RollbackResult = {
      backupId: record.id,
      noop,
      message: noop
        ? `namespace ${namespace} is already restored from backup ${record.id}: nothing changed`
        : `restored namespace ${namespace} and ${storagePath} from backup ${record.id}`,
      journal,
      storagePath,
      movedAside: state.movedAside,
      ...(state.restore ? { restore: state.restore } : {}),
      copyBack,
      downtimeSeconds,
      checks,
      ...(daemon ? { notes: [daemon] } : {}),
      reportPath: config.reportPath,
    };
    await writeJsonAtomic(config.reportPath, result);
    return result;
  } finally {
    stopRenewal();
    await releaseLock(client, lock).catch(() => undefined);
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
