import type { KubeClient } from './client.js';
import { KubeStateError } from './errors.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './apply.js';
import { CA_BUNDLE_CONFIGMAP } from './ca-bundle.js';
import { Journal, JournaledError, type JournalEntry } from './journal.js';
import { isKindName, labelSelectorString, objectPath, type KindName } from './paths.js';
import { isSubset, jsonEqual, sanitizeObject } from './sanitize.js';
import { ORIGINAL_SUSPEND_ANNOTATION } from './freeze-others.js';
import { ORIGINAL_REPLICAS_ANNOTATION, scaleWorkload, waitForPodsGone } from './scale.js';
import type { KubeObject, Logger, Workload } from './types.js';
import { pollUntil } from './wait.js';

/** StatefulSet spec fields an update may change; any other difference needs delete + create. */
const STS_MUTABLE_SPEC = new Set([
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
  'revisionHistoryLimit',
]);

export interface RestoreOptions {
  namespace: string;
  /** Sanitized objects from the snapshot (StatefulSets, ConfigMaps, Services). */
  objects: KubeObject[];
  /**
   * Secrets holding storage settings, whole, from the backup's node-local copy: a cutover with
   * settings-secret wrote one, and its data is put back exactly (values never logged).
   */
  secrets?: KubeObject[];
  /**
   * The other workloads that write the storage, as the backup saw them: the cutover froze them
   * (freeze-others.ts), so their replicas or suspend come back; they are never created or deleted.
   */
  others?: KubeObject[];
  /** The S3 Secret the cutover created; deleted when it carries this tool's label. */
  secretName?: string;
  /** Also delete the private CA's ConfigMap the cutover created (when it carries the label). */
  caBundle?: boolean;
  /** Create/update the StatefulSets with this many replicas (e.g. 0 until the files are back). */
  statefulSetReplicas?: number;
  timeoutMs?: number;
  intervalMs?: number;
  logger?: Logger;
  onJournal?: (entry: JournalEntry) => void;
}

export interface RestoreResult {
  noop: boolean;
  message: string;
  journal: JournalEntry[];
}

const RESTORABLE: KindName[] = ['ConfigMap', 'Service', 'StatefulSet', 'PersistentVolumeClaim'];

/**
 * Puts the snapshot back: Deployments of the StatefulSets' names scaled to zero and deleted,
 * ConfigMaps replaced wholesale (keys the cutover added disappear), StatefulSets re-created
 * (delete + create when immutable fields differ), missing Services created, the cutover's S3
 * Secret and private-CA ConfigMap deleted. Idempotent: a second run changes nothing.
 */
export async function restoreObjects(
  client: KubeClient,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { namespace, logger } = options;
  const journal = new Journal(options.onJournal);
  const timeoutMs = options.timeoutMs ?? 300_000;
  const intervalMs = options.intervalMs ?? 2000;
  const objects = validateSnapshot(options.objects, namespace);
  const secrets = validateSnapshot(options.secrets ?? [], namespace, ['Secret']);
  const others = validateSnapshot(options.others ?? [], namespace, [
    'Deployment',
    'StatefulSet',
    'CronJob',
  ]);
  const byKind = (kind: KindName): KubeObject[] => objects.filter((o) => o.kind === kind);
  try {
    for (const sts of byKind('StatefulSet')) {
      await removeDeployment(client, namespace, sts.metadata?.name ?? '', journal, {
        timeoutMs,
        intervalMs,
        logger,
      });
    }
    for (const saved of [...byKind('ConfigMap'), ...secrets])
      await restoreDataObject(client, namespace, saved, journal);
    // Services and claims are never changed by the cutover: only missing ones are created.
    for (const o of [...byKind('Service'), ...byKind('PersistentVolumeClaim')]) {
      const kind = o.kind as 'Service' | 'PersistentVolumeClaim';
      const name = o.metadata?.name ?? '';
      if (await client.getOrNull(objectPath(kind, namespace, name))) continue;
      await client.create(objectPath(kind, namespace), o);
      journal.record('created', kind, name, 'from the snapshot');
    }
    for (const sts of byKind('StatefulSet')) {
      const desired = structuredClone(sts) as Workload;
      if (options.statefulSetReplicas !== undefined) {
        desired.spec = { ...desired.spec, replicas: options.statefulSetReplicas };
      }
      await restoreStatefulSet(client, namespace, desired, journal, { timeoutMs, intervalMs });
    }
    for (const o of others) await restoreFrozenWriter(client, namespace, o, journal, logger);
    if (options.secretName)
      await deleteOurs(client, namespace, 'Secret', options.secretName, journal, logger);
    if (options.caBundle)
      await deleteOurs(client, namespace, 'ConfigMap', CA_BUNDLE_CONFIGMAP, journal, logger);
  } catch (error) {
    throw new JournaledError(`restore failed: ${(error as Error).message}`, journal.entries, error);
  }
  const noop = !journal.mutated;
  const message = noop
    ? `namespace "${namespace}" already matches the snapshot: nothing changed`
    : `restored ${journal.entries.length} change(s) in namespace "${namespace}"`;
  logger?.info(message);
  return { noop, message, journal: journal.entries };
}

function validateSnapshot(
  objects: KubeObject[],
  namespace: string,
  kinds: KindName[] = RESTORABLE,
): KubeObject[] {
  const problems: string[] = [];
  const out: KubeObject[] = [];
  for (const [i, o] of objects.entries()) {
    const name = o.metadata?.name;
    if (!name) problems.push(`object #${i} has no metadata.name`);
    else if (!isKindName(o.kind) || !kinds.includes(o.kind)) {
      problems.push(`${o.kind ?? '(no kind)'}/${name}: only ${kinds.join(', ')} can be restored`);
    } else if (o.metadata?.namespace && o.metadata.namespace !== namespace) {
      problems.push(
        `${o.kind}/${name} belongs to namespace "${o.metadata.namespace}", not "${namespace}"`,
      );
    } else {
      const clean = sanitizeObject(o);
      clean.metadata = { ...clean.metadata, namespace };
      out.push(clean);
    }
  }
  if (problems.length)
    throw new KubeStateError(`the snapshot cannot be restored:\n  - ${problems.join('\n  - ')}`);
  return out;
}

async function removeDeployment(
  client: KubeClient,
  namespace: string,
  name: string,
  journal: Journal,
  wait: { timeoutMs: number; intervalMs: number; logger?: Logger | undefined },
): Promise<void> {
  const path = objectPath('Deployment', namespace, name);
  const deployment = await client.getOrNull<Workload>(path);
  if (!deployment) return;
  const selector = labelSelectorString(deployment.spec?.selector?.matchLabels);
  const { previous, changed } = await scaleWorkload(
    client,
    namespace,
    { kind: 'Deployment', name },
    0,
  );
  if (changed) journal.record('scaled', 'Deployment', name, `replicas ${previous} → 0`);
  if (selector) await waitForPodsGone(client, namespace, [selector], wait);
  if (await client.delete(path, { propagationPolicy: 'Background' })) {
    journal.record('deleted', 'Deployment', name, 'the StatefulSet of the same name comes back');
    wait.logger?.info(`Deleted Deployment/${name}`);
  }
}

/**
 * Puts a ConfigMap or a Secret back as saved: a PUT of the whole object, so keys the cutover
 * added disappear. The journal names the object only (it leaves the node).
 */
async function restoreDataObject(
  client: KubeClient,
  namespace: string,
  saved: KubeObject,
  journal: Journal,
): Promise<void> {
  const kind = saved.kind === 'Secret' ? 'Secret' : 'ConfigMap';
  const from = kind === 'Secret' ? 'the node-local copy in the backup' : 'the snapshot';
  const name = saved.metadata?.name ?? '';
  const path = objectPath(kind, namespace, name);
  if (!(await client.getOrNull(path))) {
    await client.create(objectPath(kind, namespace), saved);
    journal.record('created', kind, name, `from ${from}`);
    return;
  }
  const { changed } = await client.updateWithRetry<KubeObject>(path, (current) =>
    jsonEqual(sanitizeObject(current), saved) ? undefined : structuredClone(saved),
  );
  if (changed) journal.record('replaced', kind, name, `data replaced by ${from}`);
}

/** A storage writer the cutover froze gets its saved replicas (or suspend) back, annotation gone. */
async function restoreFrozenWriter(
  client: KubeClient,
  namespace: string,
  saved: KubeObject,
  journal: Journal,
  logger?: Logger,
): Promise<void> {
  const kind = saved.kind as 'Deployment' | 'StatefulSet' | 'CronJob';
  const name = saved.metadata?.name ?? '';
  const path = objectPath(kind, namespace, name);
  const current = await client.getOrNull<Workload>(path);
  if (!current) {
    logger?.warning?.(
      `${kind}/${name} (a storage writer the cutover freezes) is gone; not re-created`,
    );
    return;
  }
  const spec = (saved as Workload).spec ?? {};
  const annotations = current.metadata?.annotations ?? {};
  if (kind === 'CronJob') {
    const suspend = spec.suspend === true;
    if (current.spec?.suspend === suspend && !(ORIGINAL_SUSPEND_ANNOTATION in annotations)) return;
    await client.patch(path, {
      metadata: { annotations: { [ORIGINAL_SUSPEND_ANNOTATION]: null } },
      spec: { suspend },
    });
    journal.record('updated', kind, name, `suspend ${current.spec?.suspend === true} → ${suspend}`);
    return;
  }
  const replicas = spec.replicas ?? 1;
  const { previous, changed } = await scaleWorkload(client, namespace, { kind, name }, replicas);
  if (changed) journal.record('scaled', kind, name, `replicas ${previous} → ${replicas}`);
  if (ORIGINAL_REPLICAS_ANNOTATION in annotations)
    await client.patch(path, {
      metadata: { annotations: { [ORIGINAL_REPLICAS_ANNOTATION]: null } },
    });
}

async function restoreStatefulSet(
  client: KubeClient,
  namespace: string,
  desired: Workload,
  journal: Journal,
  wait: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  const name = desired.metadata?.name ?? '';
  const path = objectPath('StatefulSet', namespace, name);
  const current = await client.getOrNull<Workload>(path);
  if (current && isSubset(desired, sanitizeObject(current))) return;
  if (current && !immutableDiffers(desired, current)) {
    await client.updateWithRetry<Workload>(path, () => structuredClone(desired));
    journal.record('replaced', 'StatefulSet', name, 'spec replaced by the snapshot');
    return;
  }
  if (current) {
    // Orphan: pods (if any) stay and the re-created StatefulSet adopts them.
    await client.delete(path, { propagationPolicy: 'Orphan' });
    journal.record(
      'deleted',
      'StatefulSet',
      name,
      'immutable fields differ from the snapshot; re-created',
    );
    await pollUntil(
      async () => ((await client.getOrNull(path)) ? undefined : true),
      wait,
      () =>
        new KubeStateError(
          `StatefulSet/${name} is still present ${Math.round(wait.timeoutMs / 1000)}s after its deletion`,
        ),
    );
  }
  await client.create(objectPath('StatefulSet', namespace), desired);
  journal.record(
    'created',
    'StatefulSet',
    name,
    `from the snapshot (${desired.spec?.replicas ?? 1} replica(s))`,
  );
}

function immutableDiffers(desired: Workload, current: Workload): boolean {
  const a = desired.spec ?? {};
  const b = current.spec ?? {};
  return Object.keys(a).some((k) => !STS_MUTABLE_SPEC.has(k) && !isSubset(a[k], b[k]));
}

const CUTOVER_ADDED = {
  Secret: 'the S3 credentials of the cutover',
  ConfigMap: 'the private CA bundle of the cutover',
} as const;

/** Deletes an object the cutover created, only when it carries this tool's label. */
async function deleteOurs(
  client: KubeClient,
  namespace: string,
  kind: keyof typeof CUTOVER_ADDED,
  name: string,
  journal: Journal,
  logger?: Logger,
): Promise<void> {
  const path = objectPath(kind, namespace, name);
  const found = await client.getOrNull<KubeObject>(path);
  if (!found) return;
  if (found.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
    logger?.warning?.(
      `${kind}/${name} was not created by this tool (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label); left in place`,
    );
    return;
  }
  if (await client.delete(path)) journal.record('deleted', kind, name, CUTOVER_ADDED[kind]);
}
