import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BlockedError, ConfigurationError } from '@dify-storage/action-kit';
import { formatBytes } from '@dify-storage/common';
import {
  applyRetention,
  backupFiles,
  copyOffNode,
  createBackup,
  makeBackupId,
  preflightBackup,
  type CopyOffNodeResult,
  type CreateBackupResult,
  type KubernetesSnapshot,
  type PreflightReport,
  type RetentionResult,
  type StorageTreeRecord,
} from '@dify-storage/backup';
import {
  inspectInstall,
  readSettingsSecrets,
  Redactor,
  renderYaml,
  STORAGE_ROOT_OUTSIDE,
  snapshotObjects,
  snapshotTargets,
  type InstallInspection,
  type KubeClient,
  type KubeObject,
} from '@dify-storage/kube';
import type { BackupConfig } from './backup-config.js';
import { checkStorageIdentity } from './identity.js';
import { progressOf, transferLine, type Logger } from './logger.js';
import { preExistingReferences, type PreExistingReferences } from './references-run.js';
import { offNodeUploader } from './off-node.js';
import { requireCompleteSnapshot, requireNamedWorkloads } from './record-check.js';
import { kubeClient } from './targets.js';
import { hasSeveralTrees, locateTrees, type StorageTree } from './tree-compare.js';

export interface BackupRunResult {
  preflight: PreflightReport;
  storagePath: string;
  node: string;
  /**
   * Database references whose file is not in the storage directory before anything is touched
   * (with `database-url`): broken before the migration, so not the migration's doing.
   */
  preExisting?: PreExistingReferences;
  /** Undefined with preflight-only. */
  backup?: CreateBackupResult;
  /** Redacted YAML of the sanitized objects (the artifact; no secret values). */
  sanitizedYamlPath?: string;
  retention?: RetentionResult;
  /** The verified copy in another bucket or prefix, when asked for. */
  offNode?: CopyOffNodeResult & { bucket: string };
  /** The install's other storage trees (shapes 3 and 4), each in a backup of its own. */
  trees?: BackupTreeResult[];
}

export interface BackupTreeResult {
  label: string;
  storagePath: string;
  backupId: string;
  files: number;
}

/**
 * Where the storage lives (the one resolver of packages/kube: hostPath, local/hostPath PV, NFS,
 * per-ordinal claims) and whether this runner can read it: checked before anything is written.
 * Only node-local volumes tie the runner to a node; an NFS export needs its local mount point.
 */
async function locateStorage(
  config: BackupConfig,
  inspection: InstallInspection,
): Promise<{ node: string; storagePath: string }> {
  const volume = inspection.api.volumes[0];
  const node = inspection.apiPod?.nodeName ?? volume?.node ?? inspection.node;
  if (!inspection.apiPod && !volume) {
    throw new ConfigurationError(
      `Pod ${config.apiPod} was not found in namespace ${config.kube.namespace}` +
        (inspection.api.state === 'missing'
          ? `, and neither is a StatefulSet or Deployment named ${config.apiName}. Check 'namespace' and 'api-name'.`
          : ` (${config.apiName} is a ${inspection.api.state}). Is Dify running? Set 'api-pod' if it is named differently.`),
    );
  }
  if (volume?.problem) {
    throw new ConfigurationError(
      `${config.apiName} mounts ${config.storageMountPath} from a volume that cannot be located: ${volume.problem}.`,
    );
  }
  const nodeLocal = volume ? volume.nodeLocal : true;
  if (nodeLocal && !node)
    throw new ConfigurationError(
      `The node holding ${config.apiName}'s storage is unknown: ${config.apiPod} is not scheduled and nothing pins it.`,
    );
  if (nodeLocal && node !== config.nodeName) {
    throw new ConfigurationError(
      `This runner is on node '${config.nodeName}', but ${config.apiName}'s ${volume?.kind ?? 'hostPath'} storage is on node '${node}'. ` +
        `Run the backup on a self-hosted runner on '${node}' (or set 'node-name' if this runner's node name differs from its host name).`,
    );
  }
  const onNode = volume?.nodeLocal ? volume.path : undefined;
  const storagePath = config.storagePath ?? onNode;
  if (!storagePath) {
    throw new ConfigurationError(
      volume?.kind === 'nfs'
        ? `${config.apiName} keeps its files on NFS ${volume.nfs?.server}:${volume.path}: set 'storage-path' to where that export (with the subPath) is mounted on this runner.`
        : `${config.apiName} mounts no volume at ${config.storageMountPath} whose directory this runner can find; there is nothing on this node to back up. Set 'storage-path' to back up a directory anyway.`,
    );
  }
  return { node: node ?? config.nodeName, storagePath };
}

/**
 * The Secrets that hold storage settings, whole (a cutover with settings-secret writes one):
 * kept on this node only, 0600, beside the redaction key, so rollback restores them exactly.
 * They are not snapshot objects, so no artifact, summary or off-node copy ever carries them.
 */
async function keepSettingsSecrets(
  client: KubeClient,
  inspection: InstallInspection,
  k8sDir: string,
  id: string,
  kubernetes: KubernetesSnapshot,
): Promise<void> {
  const names = Object.entries(inspection.secretSettings)
    .filter(([, keys]) => Object.keys(keys).length > 0)
    .map(([name]) => name);
  const secrets = await readSettingsSecrets(client, inspection.namespace, names);
  if (secrets.length === 0) return;
  await mkdir(path.join(k8sDir, 'node-local'), { recursive: true, mode: 0o700 });
  kubernetes.nodeLocalSecrets = [];
  for (const secret of secrets) {
    const name = objectFileName(secret);
    await writeFile(path.join(k8sDir, 'node-local', name), JSON.stringify(secret, null, 2), {
      mode: 0o600,
      flag: 'wx',
    });
    const file = path.join(`${id}.kubernetes`, 'node-local', name);
    kubernetes.nodeLocalSecrets.push({ name: String(secret.metadata?.name), file });
  }
  kubernetes.notes?.push(
    `Secrets holding storage settings (${kubernetes.nodeLocalSecrets.map((s) => s.name).join(', ')}) are kept whole in ${id}.kubernetes/node-local/ (0600, on this node only, never in an off-node copy), so that rollback puts them back exactly.`,
  );
}

function objectFileName(o: KubeObject): string {
  return `${o.kind}-${o.metadata?.name}.json`;
}

/**
 * backup-hostpath: preflight (right node, storage visible, enough room), then the Kubernetes
 * snapshot, the verified archive of every storage tree with its manifest, the record, and retention.
 */
export async function runBackup(config: BackupConfig, log: Logger): Promise<BackupRunResult> {
  const client = kubeClient(config.kube);
  const inspection = await inspectForBackup(client, config);
  const { node, storagePath } = await locateStorage(config, inspection);
  const trees = await backupTrees(inspection, storagePath);
  await checkStorageIdentity(config.databaseUrl, storagePath, log);
  const preflight = await preflightTree(config, storagePath, node, log);
  for (const t of trees.slice(1)) await preflightTree(config, t.dir, node, log, t.label);
  const preExisting = config.databaseUrl
    ? (await preExistingReferences(config.databaseUrl, storagePath)).preExisting
    : undefined;
  if (preExisting) log.info(`preflight: ${preExisting.line}`);
  const found = { preflight, storagePath, node, ...(preExisting ? { preExisting } : {}) };
  if (config.preflightOnly) return found;

  const now = new Date();
  const id = makeBackupId(now);
  const k8sDir = path.join(config.backupDir, `${id}.kubernetes`);
  const extras: StorageTreeRecord[] = [];
  try {
    const { kubernetes, sanitizedYamlPath } = await writeSnapshot(client, config, inspection, id);
    for (const t of trees.slice(1))
      extras.push(await backupOtherTree(config, t, `${id}-${t.slug}`, node, log));
    if (extras.length)
      kubernetes.storageTrees = [treeRecord(trees[0]!, id, node, preflight), ...extras];
    const backup = await createBackup({
      storageDir: storagePath,
      backupDir: config.backupDir,
      backupId: id,
      now,
      zstdLevel: config.compressionLevel,
      nodeName: node,
      namespace: config.kube.namespace,
      marginRatio: config.freeSpaceMargin,
      preflightReport: preflight,
      kubernetes,
      onProgress: (p) => progressOf(log)(transferLine(p)),
    });
    const offNode = await copyBackupOffNode(config, backup, log);
    const retention = await applyRetention(config.backupDir, config.keep, {
      namespace: config.kube.namespace,
      protectedIds: [id],
    });
    for (const d of retention.deleted)
      log.info(`retention: deleted backup ${d.id} (${formatBytes(d.bytes)})`);
    return {
      ...found,
      backup,
      sanitizedYamlPath,
      retention,
      ...(extras.length ? { trees: extras.map(treeResult) } : {}),
      ...(offNode ? { offNode } : {}),
    };
  } catch (error) {
    // A failed backup leaves nothing that looks like one.
    await rm(k8sDir, { recursive: true, force: true });
    for (const t of extras)
      for (const f of t.backupFiles) await rm(path.join(config.backupDir, f), { force: true });
    throw error;
  }
}

/** The install as the backup needs it: named workloads, and Dify's files under the mount. */
async function inspectForBackup(
  client: KubeClient,
  config: BackupConfig,
): Promise<InstallInspection> {
  const inspection = await inspectInstall(client, {
    namespace: config.kube.namespace,
    apiName: config.apiName,
    workerName: config.workerName,
    storageMountPath: config.storageMountPath,
    apiPodName: config.apiPod,
  });
  requireNamedWorkloads(inspection);
  // Dify keeps its files elsewhere than the mount being backed up and copied (§3 of the
  // fidelity notes): refuse before anything is written.
  const rootProblems = inspection.findings.filter((f) => f.code === STORAGE_ROOT_OUTSIDE);
  if (rootProblems.length) throw new BlockedError(rootProblems.map((f) => f.message).join('\n'));
  return inspection;
}

/** Every storage tree of the install (shapes 3 and 4), all readable here, or a refusal. */
async function backupTrees(
  inspection: InstallInspection,
  storagePath: string,
): Promise<StorageTree[]> {
  if (!hasSeveralTrees(inspection))
    return [
      { label: inspection.api.name, slug: inspection.api.name, volume: '', dir: storagePath },
    ];
  const { trees, problems } = await locateTrees(inspection, storagePath);
  if (problems.length) {
    throw new ConfigurationError(
      `The install keeps its files in several storage trees and the backup must take them all: ${problems.join(' ')} Nothing was written.`,
    );
  }
  return trees;
}

async function preflightTree(
  config: BackupConfig,
  dir: string,
  node: string,
  log: Logger,
  label?: string,
): Promise<PreflightReport> {
  const preflight = await preflightBackup({
    storageDir: dir,
    backupDir: config.backupDir,
    marginRatio: config.freeSpaceMargin,
  });
  log.info(
    `preflight: node ${node}, ${label ? `${label}'s tree ` : ''}${dir}: ${preflight.files} files, ${formatBytes(preflight.dataBytes)}; ` +
      `backup needs about ${formatBytes(preflight.estimatedBackupBytes + preflight.marginBytes)} in ${config.backupDir}`,
  );
  return preflight;
}

/**
 * A tree other than the primary: a verified backup of its own (namespace unset: only the primary
 * record, which names it, leads to it), taken before the primary's record is written.
 */
async function backupOtherTree(
  config: BackupConfig,
  tree: StorageTree,
  id: string,
  node: string,
  log: Logger,
): Promise<StorageTreeRecord> {
  log.info(`backing up ${tree.label}'s tree ${tree.dir} (${tree.volume}) as ${id}`);
  const { record } = await createBackup({
    storageDir: tree.dir,
    backupDir: config.backupDir,
    backupId: id,
    zstdLevel: config.compressionLevel,
    nodeName: node,
    marginRatio: config.freeSpaceMargin,
    kubernetes: {
      objects: [],
      notes: [`The storage tree of ${tree.label} (${tree.volume}); its install's record names it.`],
    },
    onProgress: (p) => progressOf(log)(transferLine(p)),
  });
  return treeRecord(tree, id, node, record.counts, backupFiles(record));
}

/** What the record says of one tree (the primary's own files are the backup's: none listed). */
function treeRecord(
  tree: StorageTree,
  id: string,
  node: string,
  counts: { files: number; dataBytes: number },
  files: string[] = [],
): StorageTreeRecord {
  return {
    label: tree.label,
    slug: tree.slug,
    volume: tree.volume,
    node: tree.node ?? node,
    storageDir: tree.dir,
    backupId: id,
    files: counts.files,
    dataBytes: counts.dataBytes,
    backupFiles: files,
  };
}

function treeResult(t: StorageTreeRecord): BackupTreeResult {
  return { label: t.label, storagePath: t.storageDir, backupId: t.backupId, files: t.files };
}

/** The Kubernetes snapshot of the install: raw and sanitized objects, redaction key, Secrets. */
async function writeSnapshot(
  client: KubeClient,
  config: BackupConfig,
  inspection: InstallInspection,
  id: string,
): Promise<{ kubernetes: KubernetesSnapshot; sanitizedYamlPath: string }> {
  const k8sDir = path.join(config.backupDir, `${id}.kubernetes`);
  const targets = snapshotTargets(inspection);
  // The backup's redaction key: what leaves the node carries HMACs under it, and it stays here.
  const redactionKey = Redactor.newKey();
  const redactor = new Redactor(redactionKey);
  const snapshot = await snapshotObjects(
    client,
    { namespace: config.kube.namespace, ...targets },
    redactor,
  );
  requireCompleteSnapshot(
    'The Kubernetes snapshot',
    snapshot.raw.map((o) => ({ kind: String(o.kind), name: String(o.metadata?.name) })),
    config.apiName,
    config.workerName,
  );
  const kubernetes: KubernetesSnapshot = {
    objects: [],
    notes: [
      `Referenced Secrets (${snapshot.secrets.map((s) => s.name).join(', ') || 'none'}) are recorded by name, key names and an HMAC of each value under this backup's key, never copied; the cutover changes none of them but a Secret named in settings-secret, and those holding storage settings are kept whole on the node (below).`,
      ...(snapshot.missing.length
        ? [`Not found when the snapshot was taken: ${snapshot.missing.join(', ')}.`]
        : []),
    ],
  };
  await mkdir(path.join(k8sDir, 'raw'), { recursive: true, mode: 0o700 });
  await mkdir(path.join(k8sDir, 'sanitized'), { recursive: true, mode: 0o700 });
  await writeObjects(config, snapshot, id, kubernetes);
  await keepSettingsSecrets(client, inspection, k8sDir, id, kubernetes);
  await writeFile(path.join(k8sDir, 'redaction.key'), redactionKey.toString('hex'), {
    mode: 0o600,
    flag: 'wx',
  });
  await writeFile(path.join(k8sDir, 'secrets.json'), JSON.stringify(snapshot.secrets, null, 2), {
    mode: 0o600,
  });
  const sanitizedYamlPath = path.join(k8sDir, 'sanitized-redacted.yaml');
  await writeFile(sanitizedYamlPath, renderYaml(snapshot.sanitized, { redact: redactor }), {
    mode: 0o600,
  });
  return { kubernetes, sanitizedYamlPath };
}

/**
 * Unredacted objects stay on the node (mode 0600): ConfigMaps often hold SECRET_KEY or
 * DB_PASSWORD, and rollback must restore them exactly.
 */
async function writeObjects(
  config: BackupConfig,
  snapshot: Awaited<ReturnType<typeof snapshotObjects>>,
  id: string,
  kubernetes: KubernetesSnapshot,
): Promise<void> {
  const k8sDir = path.join(config.backupDir, `${id}.kubernetes`);
  for (const [i, raw] of snapshot.raw.entries()) {
    const sanitized = snapshot.sanitized[i]!;
    const name = objectFileName(raw);
    await writeFile(path.join(k8sDir, 'raw', name), JSON.stringify(raw, null, 2), {
      mode: 0o600,
    });
    await writeFile(path.join(k8sDir, 'sanitized', name), JSON.stringify(sanitized, null, 2), {
      mode: 0o600,
    });
    kubernetes.objects.push({
      apiVersion: String(raw.apiVersion),
      kind: String(raw.kind),
      namespace: config.kube.namespace,
      name: String(raw.metadata?.name),
      rawFile: path.join(`${id}.kubernetes`, 'raw', name),
      sanitizedFile: path.join(`${id}.kubernetes`, 'sanitized', name),
    });
  }
}

/** The verified copy in another bucket or prefix, when asked for. */
async function copyBackupOffNode(
  config: BackupConfig,
  backup: CreateBackupResult,
  log: Logger,
): Promise<BackupRunResult['offNode']> {
  if (!config.offNode) return undefined;
  const id = backup.record.id;
  log.info(
    `copying backup ${id} off the node to s3://${config.offNode.s3.bucket}/${config.offNode.prefix}${id}/`,
  );
  const copy = await copyOffNode({
    record: backup.record,
    uploader: offNodeUploader(config.offNode.s3, config.backupDir),
    backupDir: config.backupDir,
    prefix: config.offNode.prefix,
  });
  log.info(`off-node copy verified: ${copy.objects.length} objects, ${formatBytes(copy.bytes)}`);
  return { ...copy, bucket: config.offNode.s3.bucket };
}
