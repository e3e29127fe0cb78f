import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigurationError } from '@dify-storage/action-kit';
import {
  findBackup,
  latestBackup,
  moveAside,
  restoreBackup,
  type LocatedBackup,
  type RestoreBackupResult,
} from '@dify-storage/backup';
import { DifyApi, createdSince, privateKeyKey } from '@dify-storage/dify';
import {
  DEFAULT_SECRET_NAME,
  acquireLock,
  releaseLock,
  restoreObjects,
  scaleWorkload,
  waitForRollout,
  type JournalEntry,
  type KubeObject,
  type Workload,
} from '@dify-storage/kube';
import { syncFromBucket, type SyncReport } from '@dify-storage/sync';
import { progressOf, type Logger } from './logger.js';
import type { RollbackConfig } from './rollback-config.js';
import { kubeClient, syncTarget } from './targets.js';
import { writeJsonAtomic } from './verify-run.js';

/** Progress of a rollback on disk, so an interrupted run resumes instead of redoing a step. */
interface RollbackState {
  backupId: string;
  startedAt: string;
  /** Set once the archive was extracted and verified into the storage directory. */
  storageRestoredAt?: string;
  movedAside: string[];
  restore?: RestoreBackupResult;
  copyBack?: { copied: number; bytes: number; refused: number; failed: number; listPath: string };
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
    throw new ConfigurationError(
      `Backup ${located.record.id} has no complete Kubernetes snapshot (${missing.map((o) => `${o.kind}/${o.name}`).join(', ') || 'no objects'}); it cannot restore the workloads.`,
    );
  }
  if (located.record.namespace && located.record.namespace !== config.kube.namespace) {
    throw new ConfigurationError(
      `Backup ${located.record.id} is of namespace ${located.record.namespace}, not ${config.kube.namespace}.`,
    );
  }
  return located;
}

async function readState(file: string, backupId: string): Promise<RollbackState> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RollbackState;
  } catch {
    return { backupId, startedAt: new Date().toISOString(), movedAside: [] };
  }
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
  const storagePath = config.storagePath ?? record.storageDir;
  if (!existsSync(storagePath) || !(await stat(storagePath)).isDirectory()) {
    throw new ConfigurationError(
      `The storage directory ${storagePath} does not exist on this runner: is it on the node of backup ${record.id} (${record.nodeName ?? 'unknown'})?`,
    );
  }
  const target = syncTarget(config.s3);
  const objects: KubeObject[] = await Promise.all(
    record.kubernetes.objects
      .filter((o) => ['StatefulSet', 'ConfigMap', 'Service'].includes(o.kind))
      .map(
        async (o) =>
          JSON.parse(
            await readFile(path.join(config.backupDir, o.sanitizedFile!), 'utf8'),
          ) as KubeObject,
      ),
  );
  const statefulSets = objects.filter((o) => o.kind === 'StatefulSet') as Workload[];
  const statePath = path.join(config.backupDir, `rollback-${record.id}.json`);
  const state = await readState(statePath, record.id);
  const client = kubeClient(config.kube);
  const namespace = config.kube.namespace;
  const lock = await acquireLock(client, {
    namespace,
    holder: config.runId,
    ttlSeconds: Math.max(3600, config.rolloutTimeoutSeconds * 4),
  });
  const timeoutMs = config.rolloutTimeoutSeconds * 1000;
  const journal: JournalEntry[] = [];
  const downStarted = Date.now();
  let copyBack: RollbackResult['copyBack'];
  try {
    // 1. Workloads and ConfigMap; StatefulSets come back at zero replicas until the files are
    // back. After a completed rollback the snapshot's own replicas are the target, so a re-run
    // compares equal and changes nothing.
    const objectsResult = await restoreObjects(client, {
      namespace,
      objects,
      secretName: DEFAULT_SECRET_NAME,
      ...(state.completedAt ? {} : { statefulSetReplicas: 0 }),
      timeoutMs,
      logger: log,
      onJournal: (e) => journal.push(e),
    });
    // 2. The storage directory, once per rollback (a later run must not move aside newer files).
    if (!state.storageRestoredAt) {
      const aside = await moveAside(storagePath);
      state.movedAside.push(aside);
      await writeJsonAtomic(statePath, state);
      log.info(`moved the current content of ${storagePath} aside to ${aside} (nothing deleted)`);
      state.restore = await restoreBackup({
        archivePath: located.archivePath,
        manifestPath: located.manifestPath,
        targetDir: storagePath,
        expectedArchiveSha256: record.archive.sha256,
        onProgress: (p) => progressOf(log)(`restore: ${p.files} files, ${p.bytes} bytes`),
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
    if (!state.copyBack) {
      report = await syncFromBucket({
        target,
        root: storagePath,
        manifest: located.manifestPath,
        throwOnFailure: false,
        onCopied: (key) => copied.push(key),
        onProgress: (e) => progressOf(log)(`copy back: ${e.filesDone} objects, ${e.copied} copied`),
      });
      for (const issue of report.refused) refusedKeys.push(`${issue.path}: ${issue.reason}`);
      const listPath = path.join(config.backupDir, `rollback-${record.id}-copied-back.json`);
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
      reportPath: config.reportPath,
    };
    await writeJsonAtomic(config.reportPath, result);
    return result;
  } finally {
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
    const onDisk = existsSync(path.join(storagePath, upload.key));
    if (api && config.difySecretKey) {
      const f = await api.fetchFilePreview(upload.id, config.difySecretKey);
      const ok =
        f.status === 200 &&
        !f.truncated &&
        f.bytes === upload.size &&
        (!upload.sha3 || f.sha3 === upload.sha3);
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
