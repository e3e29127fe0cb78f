import { createHash } from 'node:crypto';
import type { KubeClient } from './client.js';
import { CA_BUNDLE_CONFIGMAP, CA_BUNDLE_KEY, caBundleConfigMap } from './ca-bundle.js';
import { s3ConfigMapPatch, s3StorageEnv } from './configmap.js';
import { patchSecretData, settingsSecretPatch } from './settings-secret.js';
import { KubeStateError } from './errors.js';
import {
  inspectInstall,
  type InspectOptions,
  type InstallInspection,
  type WorkloadInspection,
} from './inspect.js';
import { Journal, JournaledError, type JournalEntry } from './journal.js';
import { objectPath } from './paths.js';
import {
  DEFAULT_SECRET_NAME,
  desiredDeployment,
  planCutover,
  type CutoverPlan,
  type CutoverSettings,
} from './plan.js';
import { waitForRollout } from './rollout.js';
import { ORIGINAL_REPLICAS_ANNOTATION } from './scale.js';
import type { ConfigMap, Logger, Secret, Workload } from './types.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'dify-storage-migration';
/** Hash of the Deployment this tool wants; equal hash ⇒ nothing to replace on a re-run. */
export const SPEC_HASH_ANNOTATION = 'dify-storage.io/spec-hash';

/** The static keys Dify's Secret holds (S3_ACCESS_KEY, S3_SECRET_KEY): Dify 1.3.0 takes no session token. */
export interface DifyS3Keys {
  accessKey: string;
  secretKey: string;
}

export interface ApplyCutoverOptions extends Omit<InspectOptions, 'namespace'> {
  namespace: string;
  settings: CutoverSettings;
  credentials: DifyS3Keys;
  /** Replica counts from the freeze, by workload name; else the freeze annotation is used. */
  replicas?: Record<string, number>;
  rolloutTimeoutMs?: number;
  pollIntervalMs?: number;
  logger?: Logger;
  onJournal?: (entry: JournalEntry) => void;
}

export interface ApplyCutoverResult {
  /** Nothing had to change: the namespace was already converted. */
  noop: boolean;
  message: string;
  journal: JournalEntry[];
  plan: CutoverPlan;
  /** Time spent waiting for the Deployments to roll out. */
  rolloutMs: number;
}

/**
 * Converges the namespace to the S3 setup: Secret, ConfigMap, one Deployment per StatefulSet
 * (with the original replica count), rollout waited for, and only then the StatefulSets deleted.
 * Safe to re-run after a partial failure; on a converted namespace it changes nothing. Errors
 * carry the journal of the changes made so far.
 */
export async function applyCutover(
  client: KubeClient,
  options: ApplyCutoverOptions,
): Promise<ApplyCutoverResult> {
  const logger = options.logger;
  const journal = new Journal(options.onJournal);
  const { namespace } = options;
  validateCredentials(options.credentials);
  const inspection = await inspectInstall(client, options);
  // The api pod is gone after the freeze, by design: that finding does not block apply.
  const plan = planCutover(inspection, {
    ...options.settings,
    acceptFindings: [...(options.settings.acceptFindings ?? []), 'api-pod-missing'],
  });
  if (plan.blockers.length) {
    throw new KubeStateError(
      `the namespace "${namespace}" is not in a shape the cutover can handle:\n${plan.blockers.map((b) => `  - ${b.code}: ${b.message}`).join('\n')}`,
    );
  }
  const workloads = [inspection.api, inspection.worker];
  const replicas = resolveReplicas(workloads, options.replicas);
  assertFrozen(workloads);
  const secretName = options.settings.secretName ?? DEFAULT_SECRET_NAME;
  let rolloutMs = 0;
  try {
    await ensureSecret(client, namespace, secretName, options.credentials, journal);
    if (inspection.storageConfigMap) {
      await updateConfigMap(
        client,
        namespace,
        inspection.storageConfigMap,
        options.settings,
        journal,
      );
    }
    if (options.settings.settingsSecret)
      await updateSettingsSecret(client, inspection, options.settings, journal);
    if (options.settings.caBundle)
      await ensureCaBundle(client, namespace, options.settings.caBundle, journal);
    for (const w of workloads) {
      if (!w.statefulSet) continue;
      const desired = desiredDeployment(inspection, w, options.settings);
      if (!desired) continue;
      await ensureDeployment(client, namespace, desired, replicas[w.name] ?? 1, w, journal, logger);
    }
    const started = Date.now();
    for (const w of workloads) {
      if (w.state === 'missing') continue;
      await waitForRollout(client, {
        namespace,
        kind: 'Deployment',
        name: w.name,
        // Past the progress deadline the Deployment reports failure itself; the margin covers the report.
        timeoutMs:
          options.rolloutTimeoutMs ??
          ((options.settings.progressDeadlineSeconds ?? 600) + 60) * 1000,
        intervalMs: options.pollIntervalMs ?? 2000,
        ...(logger ? { logger } : {}),
      });
    }
    rolloutMs = Date.now() - started;
    await deleteStatefulSets(client, namespace, workloads, journal, logger);
  } catch (error) {
    throw new JournaledError(
      `cutover apply failed: ${(error as Error).message}`,
      journal.entries,
      error,
    );
  }
  const noop = !journal.mutated;
  const message = noop
    ? `namespace "${namespace}" is already converted to S3: nothing changed`
    : `namespace "${namespace}" converted to S3 (${journal.entries.length} change(s))`;
  logger?.info(message);
  return { noop, message, journal: journal.entries, plan, rolloutMs };
}

/** The StatefulSets the Deployments replaced, once those rolled out. */
async function deleteStatefulSets(
  client: KubeClient,
  namespace: string,
  workloads: WorkloadInspection[],
  journal: Journal,
  logger: ApplyCutoverOptions['logger'],
): Promise<void> {
  for (const w of workloads) {
    if (!w.statefulSet) continue;
    // Pods are already gone (frozen), so Background deletion cannot leave orphans running.
    const deleted = await client.delete(objectPath('StatefulSet', namespace, w.name), {
      propagationPolicy: 'Background',
    });
    if (deleted) {
      journal.record(
        'deleted',
        'StatefulSet',
        w.name,
        'replaced by the Deployment of the same name',
      );
      logger?.info(`Deleted StatefulSet/${w.name}`);
    }
  }
}

function validateCredentials(c: DifyS3Keys): void {
  const missing = [!c.accessKey && 'accessKey', !c.secretKey && 'secretKey'].filter(Boolean);
  if (missing.length) throw new Error(`S3 credentials incomplete: ${missing.join(' and ')} empty`);
}

function resolveReplicas(
  workloads: WorkloadInspection[],
  given: Record<string, number> = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  const unknown: string[] = [];
  for (const w of workloads) {
    if (!w.statefulSet) continue;
    const fromAnnotation = Number(
      w.statefulSet.metadata?.annotations?.[ORIGINAL_REPLICAS_ANNOTATION],
    );
    const current = w.statefulSet.spec?.replicas ?? 1;
    const value =
      given[w.name] ??
      (Number.isInteger(fromAnnotation) && fromAnnotation > 0 ? fromAnnotation : undefined) ??
      (current > 0 ? current : undefined);
    if (value === undefined || !Number.isInteger(value) || value < 0) unknown.push(w.name);
    else out[w.name] = value;
  }
  if (unknown.length) {
    throw new KubeStateError(
      `the original replica count of ${unknown.join(', ')} is unknown (the StatefulSet is at 0 and carries no ${ORIGINAL_REPLICAS_ANNOTATION} annotation); pass the counts the freeze returned`,
    );
  }
  return out;
}

function assertFrozen(workloads: WorkloadInspection[]): void {
  const live = workloads.filter(
    (w) =>
      w.statefulSet &&
      ((w.statefulSet.spec?.replicas ?? 1) > 0 || w.pods.some((p) => isStsPod(p.name, w.name))),
  );
  if (live.length) {
    throw new KubeStateError(
      `StatefulSet(s) ${live.map((w) => w.name).join(', ')} still run or have replicas: they would keep writing to the hostPath. Freeze first (scale to zero and wait).`,
    );
  }
}

function isStsPod(pod: string, sts: string): boolean {
  return new RegExp(`^${sts.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d+$`).test(pod);
}

async function ensureSecret(
  client: KubeClient,
  namespace: string,
  name: string,
  c: DifyS3Keys,
  journal: Journal,
): Promise<void> {
  const data = {
    S3_ACCESS_KEY: Buffer.from(c.accessKey, 'utf8').toString('base64'),
    S3_SECRET_KEY: Buffer.from(c.secretKey, 'utf8').toString('base64'),
  };
  const path = objectPath('Secret', namespace, name);
  const current = await client.getOrNull<Secret>(path);
  if (!current) {
    await client.create(objectPath('Secret', namespace), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
      type: 'Opaque',
      data,
    });
    journal.record('created', 'Secret', name, 'keys S3_ACCESS_KEY, S3_SECRET_KEY');
    return;
  }
  const { changed } = await client.updateWithRetry<Secret>(path, (s) => {
    if (
      s.data?.S3_ACCESS_KEY === data.S3_ACCESS_KEY &&
      s.data?.S3_SECRET_KEY === data.S3_SECRET_KEY
    )
      return undefined;
    return { ...s, data: { ...s.data, ...data } };
  });
  if (changed) journal.record('updated', 'Secret', name, 'keys S3_ACCESS_KEY, S3_SECRET_KEY set');
}

/** The private CA's ConfigMap, before the Deployments that mount it (a missing one holds pods in ContainerCreating). */
async function ensureCaBundle(
  client: KubeClient,
  namespace: string,
  pem: string,
  journal: Journal,
): Promise<void> {
  const desired = caBundleConfigMap(namespace, pem, { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE });
  const path = objectPath('ConfigMap', namespace, CA_BUNDLE_CONFIGMAP);
  const what = `${CA_BUNDLE_KEY}: the private CA and the public roots`;
  if (!(await client.getOrNull<ConfigMap>(path))) {
    await client.create(objectPath('ConfigMap', namespace), desired);
    journal.record('created', 'ConfigMap', CA_BUNDLE_CONFIGMAP, what);
    return;
  }
  const { changed } = await client.updateWithRetry<ConfigMap>(path, (cm) =>
    cm.data?.[CA_BUNDLE_KEY] === desired.data?.[CA_BUNDLE_KEY]
      ? undefined
      : { ...cm, data: desired.data! },
  );
  if (changed) journal.record('updated', 'ConfigMap', CA_BUNDLE_CONFIGMAP, what);
}

async function updateConfigMap(
  client: KubeClient,
  namespace: string,
  name: string,
  settings: CutoverSettings,
  journal: Journal,
): Promise<void> {
  let summary = '';
  const { changed } = await client.updateWithRetry<ConfigMap>(
    objectPath('ConfigMap', namespace, name),
    (cm) => {
      const result = s3ConfigMapPatch(cm, settings);
      if (result.changes.length === 0) return undefined;
      summary = result.changes.map((c) => `${c.change} ${c.key}`).join(', ');
      return { ...cm, data: result.data };
    },
  );
  if (changed) journal.record('updated', 'ConfigMap', name, summary);
}

/** The S3 settings written where they live: the operator's settings Secret (settings-secret.ts). */
async function updateSettingsSecret(
  client: KubeClient,
  inspection: InstallInspection,
  settings: CutoverSettings,
  journal: Journal,
): Promise<void> {
  const name = settings.settingsSecret!;
  const patch = settingsSecretPatch(inspection, name, s3StorageEnv(settings));
  if (!patch || patch.changes.length === 0) return;
  const { changed } = await client.updateWithRetry<Secret>(
    objectPath('Secret', inspection.namespace, name),
    (s) => ({ ...s, data: patchSecretData(s.data, patch.changes) }),
  );
  // Key names only: the journal leaves the node.
  const summary = patch.changes.map((c) => `${c.change} ${c.key}`).join(', ');
  if (changed) journal.record('updated', 'Secret', name, summary);
}

function specHash(deployment: Workload): string {
  const spec = { ...deployment.spec };
  delete spec.replicas;
  return createHash('sha256')
    .update(canonicalJson({ metadata: deployment.metadata, spec }))
    .digest('hex')
    .slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

async function ensureDeployment(
  client: KubeClient,
  namespace: string,
  desired: Workload,
  replicas: number,
  w: WorkloadInspection,
  journal: Journal,
  logger?: Logger,
): Promise<void> {
  // The freeze annotation belongs to the StatefulSet, not to its successor.
  const annotations = { ...desired.metadata?.annotations };
  delete annotations[ORIGINAL_REPLICAS_ANNOTATION];
  const clean: Workload = { ...desired, metadata: { ...desired.metadata, namespace, annotations } };
  const hash = specHash(clean);
  const body: Workload = {
    ...clean,
    metadata: { ...clean.metadata, annotations: { ...annotations, [SPEC_HASH_ANNOTATION]: hash } },
    spec: { ...clean.spec, replicas },
  };
  const name = w.name;
  if (!w.deployment) {
    await client.create(objectPath('Deployment', namespace), body);
    journal.record(
      'created',
      'Deployment',
      name,
      `${replicas} replica(s), from StatefulSet/${name}`,
    );
    logger?.info(`Created Deployment/${name} with ${replicas} replica(s)`);
    return;
  }
  if (w.deployment.metadata?.annotations?.[SPEC_HASH_ANNOTATION] === hash) return;
  await client.updateWithRetry<Workload>(objectPath('Deployment', namespace, name), () => body);
  journal.record('replaced', 'Deployment', name, `brought in line with StatefulSet/${name}`);
  logger?.info(`Replaced Deployment/${name}`);
}
