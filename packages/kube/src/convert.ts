import { mountCaBundle } from './ca-bundle.js';
import { LAST_APPLIED_ANNOTATION } from './sanitize.js';
import { isLocalStorageKey, S3_CREDENTIAL_KEYS } from './configmap.js';
import type { KubeObject, V1Container, V1EnvVar, V1PodSpec, V1Volume, Workload } from './types.js';

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
export const CONVERTED_FROM_ANNOTATION = 'dify-storage.io/converted-from';

/** Env keys that select and configure the storage backend (shown unredacted: redact.ts). */
export const STORAGE_SETTING_KEYS: ReadonlySet<string> = new Set([
  'STORAGE_TYPE',
  'S3_ENDPOINT',
  'S3_BUCKET_NAME',
  'S3_REGION',
  'S3_ADDRESS_STYLE',
  'S3_USE_AWS_MANAGED_IAM',
]);

export interface ConversionOptions {
  /** Where the storage is mounted in the containers (Dify: /app/api/storage). */
  storageMountPath: string;
  /** Name of the pod volume (the hostPath) that holds the storage. */
  hostPathVolumeName: string;
  /** Secret holding S3_ACCESS_KEY / S3_SECRET_KEY. */
  secretName: string;
  progressDeadlineSeconds?: number;
  /** ConfigMap carrying the storage settings; containers reading it get the Secret refs. */
  storageConfigMapName?: string;
  /**
   * S3 settings for containers that set storage env inline (inline env overrides the
   * ConfigMap, so it must be rewritten too). Required only when such env exists.
   */
  inlineStorageEnv?: Record<string, string>;
  /** Name of the emptyDir that keeps the storage path writable. */
  scratchVolumeName?: string;
  /** Mount the private CA bundle (CA_BUNDLE_CONFIGMAP) into the containers that use storage. */
  caBundle?: boolean;
  /**
   * The Secret the cutover writes the S3 settings into (settings-secret.ts): `valueFrom`
   * references to it stay, since the value changes where it lives.
   */
  settingsSecretName?: string;
}

/**
 * Builds the Deployment that replaces a StatefulSet (reference §2.1): STS-only fields dropped,
 * updateStrategy mapped, the hostPath (and claim templates) replaced by an emptyDir at the
 * storage path, hostname pinning removed, S3 credentials referenced from the Secret. Labels,
 * selector and template labels are kept, so Services select the new pods. Pure.
 */
export function statefulSetToDeployment(sts: Workload, options: ConversionOptions): Workload {
  const name = sts.metadata?.name;
  if (!name) throw new Error('the StatefulSet has no metadata.name');
  if (sts.kind && sts.kind !== 'StatefulSet') {
    throw new Error(`${sts.kind}/${name} is not a StatefulSet`);
  }
  const spec = sts.spec;
  if (!spec?.template?.spec) throw new Error(`StatefulSet/${name} has no spec.template.spec`);
  if (!spec.selector) throw new Error(`StatefulSet/${name} has no spec.selector`);
  if (!options.storageMountPath.startsWith('/')) {
    throw new Error(`storageMountPath must be absolute, got "${options.storageMountPath}"`);
  }
  const minReady = spec.minReadySeconds ?? 0;
  if (
    options.progressDeadlineSeconds !== undefined &&
    options.progressDeadlineSeconds <= minReady
  ) {
    throw new Error(
      `progressDeadlineSeconds (${options.progressDeadlineSeconds}) must be greater than minReadySeconds (${minReady}) of StatefulSet/${name}`,
    );
  }

  const template = structuredClone(spec.template);
  const podSpec = template.spec as V1PodSpec;
  const claimNames = new Set(
    ((spec.volumeClaimTemplates as KubeObject[] | undefined) ?? [])
      .map((t) => t.metadata?.name)
      .filter((n): n is string => !!n),
  );
  const scratchName = pickScratchName(podSpec, options.scratchVolumeName ?? 'storage-scratch');
  replaceStorageVolume(podSpec, options, claimNames, scratchName);
  removeHostnamePinning(podSpec);
  // An init container that only mounts the storage (a chown, a copy) gets the emptyDir but not
  // the S3 credentials; one that reads the storage settings is rewritten like the app containers.
  const storageUsers = [
    ...(podSpec.initContainers ?? []).filter((c) => usesStorageSettings(c, options, false)),
    ...podSpec.containers.filter((c) => usesStorageSettings(c, options)),
  ];
  for (const container of storageUsers) rewriteStorageEnv(container, options, name);
  if (options.caBundle) mountCaBundle(podSpec, storageUsers);

  const metadata: Workload['metadata'] = { name };
  if (sts.metadata?.namespace) metadata.namespace = sts.metadata.namespace;
  if (sts.metadata?.labels) metadata.labels = { ...sts.metadata.labels };
  const annotations = { ...(sts.metadata?.annotations ?? {}) };
  delete annotations[LAST_APPLIED_ANNOTATION];
  annotations[CONVERTED_FROM_ANNOTATION] = 'StatefulSet';
  metadata.annotations = annotations;

  const deploymentSpec: Record<string, unknown> = {};
  if (spec.replicas !== undefined) deploymentSpec.replicas = spec.replicas;
  deploymentSpec.selector = structuredClone(spec.selector);
  const strategy = mapUpdateStrategy(spec.updateStrategy, name);
  if (strategy) deploymentSpec.strategy = strategy;
  if (spec.minReadySeconds !== undefined) deploymentSpec.minReadySeconds = spec.minReadySeconds;
  if (spec.revisionHistoryLimit !== undefined) {
    deploymentSpec.revisionHistoryLimit = spec.revisionHistoryLimit;
  }
  if (options.progressDeadlineSeconds !== undefined) {
    deploymentSpec.progressDeadlineSeconds = options.progressDeadlineSeconds;
  }
  deploymentSpec.template = template;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: deploymentSpec };
}

interface StsUpdateStrategy {
  type?: string;
  rollingUpdate?: { partition?: number; maxUnavailable?: number | string };
}

/** STS RollingUpdate keeps maxUnavailable (partition has no equivalent); OnDelete cannot be expressed and becomes RollingUpdate. */
export function mapUpdateStrategy(
  value: unknown,
  name = 'StatefulSet',
): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  const strategy = value as StsUpdateStrategy;
  switch (strategy.type ?? 'RollingUpdate') {
    case 'RollingUpdate': {
      const maxUnavailable = strategy.rollingUpdate?.maxUnavailable;
      return maxUnavailable === undefined
        ? { type: 'RollingUpdate' }
        : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable } };
    }
    case 'OnDelete':
      return { type: 'RollingUpdate' };
    case 'Recreate':
      return { type: 'Recreate' };
    default:
      throw new Error(
        `StatefulSet/${name} has updateStrategy.type "${strategy.type}"; known: RollingUpdate, OnDelete, Recreate`,
      );
  }
}

function pickScratchName(podSpec: V1PodSpec, wanted: string): string {
  const taken = new Set((podSpec.volumes ?? []).map((v) => v.name));
  let candidate = wanted;
  for (let i = 2; taken.has(candidate); i++) candidate = `${wanted}-${i}`;
  return candidate;
}

function replaceStorageVolume(
  podSpec: V1PodSpec,
  options: ConversionOptions,
  claimNames: Set<string>,
  scratchName: string,
): void {
  const removedVolumes = new Set([options.hostPathVolumeName, ...claimNames]);
  const storagePath = normalizePath(options.storageMountPath);
  let needsScratch = false;
  for (const container of [...(podSpec.initContainers ?? []), ...podSpec.containers]) {
    const mounts = container.volumeMounts ?? [];
    // Any mount at the storage path goes, whatever backs it: the emptyDir takes its place.
    const kept = mounts.filter(
      (m) => !removedVolumes.has(m.name) && normalizePath(m.mountPath) !== storagePath,
    );
    const hadStorage = mounts.some(
      (m) => m.name === options.hostPathVolumeName || normalizePath(m.mountPath) === storagePath,
    );
    if (hadStorage) {
      kept.push({ name: scratchName, mountPath: options.storageMountPath });
      needsScratch = true;
    }
    if (kept.length) container.volumeMounts = kept;
    else delete container.volumeMounts;
  }
  const volumes: V1Volume[] = (podSpec.volumes ?? []).filter((v) => !removedVolumes.has(v.name));
  if (needsScratch) volumes.push({ name: scratchName, emptyDir: {} });
  if (volumes.length) podSpec.volumes = volumes;
  else delete podSpec.volumes;
}

function normalizePath(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** Removes nodeName and kubernetes.io/hostname selectors and affinity expressions; other rules stay. */
export function removeHostnamePinning(podSpec: V1PodSpec): void {
  delete podSpec.nodeName;
  if (podSpec.nodeSelector) {
    delete podSpec.nodeSelector[HOSTNAME_LABEL];
    if (Object.keys(podSpec.nodeSelector).length === 0) delete podSpec.nodeSelector;
  }
  const nodeAffinity = podSpec.affinity?.nodeAffinity;
  if (!nodeAffinity || !podSpec.affinity) return;
  const required = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  if (required) {
    // Terms are ORed; a term left empty would match no node, so it is dropped entirely.
    const terms = required.nodeSelectorTerms.map(stripTerm).filter(isNonEmptyTerm);
    if (terms.length) required.nodeSelectorTerms = terms;
    else delete nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  }
  const preferred = nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  if (preferred) {
    const kept = preferred
      .map((p) => ({ ...p, preference: stripTerm(p.preference) }))
      .filter((p) => isNonEmptyTerm(p.preference));
    if (kept.length) nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution = kept;
    else delete nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  }
  if (Object.keys(nodeAffinity).length === 0) delete podSpec.affinity.nodeAffinity;
  if (Object.keys(podSpec.affinity).length === 0) delete podSpec.affinity;
}

interface SelectorTerm {
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
  matchFields?: { key: string; operator: string; values?: string[] }[];
}

function stripTerm<T extends SelectorTerm>(term: T): T {
  const copy = { ...term };
  if (copy.matchExpressions) {
    const kept = copy.matchExpressions.filter((e) => e.key !== HOSTNAME_LABEL);
    if (kept.length) copy.matchExpressions = kept;
    else delete copy.matchExpressions;
  }
  if (copy.matchFields) {
    // matchFields only supports metadata.name: a node name, i.e. pinning.
    const kept = copy.matchFields.filter((e) => e.key !== 'metadata.name');
    if (kept.length) copy.matchFields = kept;
    else delete copy.matchFields;
  }
  return copy;
}

function isNonEmptyTerm(term: SelectorTerm): boolean {
  return !!(term.matchExpressions?.length || term.matchFields?.length);
}

/** Describes each hostname pin of a pod spec, for findings and plans. */
export function describePinning(podSpec: V1PodSpec | undefined): string[] {
  if (!podSpec) return [];
  const pins: string[] = [];
  if (podSpec.nodeName) pins.push(`nodeName: ${podSpec.nodeName}`);
  const selected = podSpec.nodeSelector?.[HOSTNAME_LABEL];
  if (selected) pins.push(`nodeSelector ${HOSTNAME_LABEL}=${selected}`);
  const na = podSpec.affinity?.nodeAffinity;
  for (const term of na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) {
      if (e.key === HOSTNAME_LABEL) {
        pins.push(`required node affinity ${e.key} ${e.operator} ${(e.values ?? []).join(',')}`);
      }
    }
    for (const f of term.matchFields ?? []) {
      if (f.key === 'metadata.name') {
        pins.push(
          `required node affinity field ${f.key} ${f.operator} ${(f.values ?? []).join(',')}`,
        );
      }
    }
  }
  for (const p of na?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    for (const e of p.preference.matchExpressions ?? []) {
      if (e.key === HOSTNAME_LABEL) {
        pins.push(`preferred node affinity ${e.key} ${e.operator} ${(e.values ?? []).join(',')}`);
      }
    }
  }
  return pins;
}

/** A container "has the storage env" when it reads the storage ConfigMap, sets storage env inline, or mounts the storage. */
export function usesStorageSettings(
  container: V1Container,
  options: ConversionOptions,
  includeMounts = true,
): boolean {
  const cmName = options.storageConfigMapName;
  const readsConfigMap = (name: string | undefined): boolean =>
    cmName === undefined ? name !== undefined : name === cmName;
  if ((container.envFrom ?? []).some((e) => readsConfigMap(e.configMapRef?.name))) return true;
  for (const env of container.env ?? []) {
    if (isStorageEnvKey(env.name)) return true;
    const ref = env.valueFrom?.configMapKeyRef;
    if (ref && cmName !== undefined && ref.name === cmName) return true;
  }
  if (!includeMounts) return false;
  return (container.volumeMounts ?? []).some(
    (m) =>
      m.name === options.hostPathVolumeName ||
      normalizePath(m.mountPath) === normalizePath(options.storageMountPath),
  );
}

function isStorageEnvKey(key: string): boolean {
  return (
    STORAGE_SETTING_KEYS.has(key) ||
    isLocalStorageKey(key) ||
    (S3_CREDENTIAL_KEYS as readonly string[]).includes(key)
  );
}

function rewriteStorageEnv(
  container: V1Container,
  options: ConversionOptions,
  stsName: string,
): void {
  const env: V1EnvVar[] = [];
  let inlineSettings = false;
  const keptRefs = new Set<string>();
  for (const entry of container.env ?? []) {
    if ((S3_CREDENTIAL_KEYS as readonly string[]).includes(entry.name)) continue;
    if (isLocalStorageKey(entry.name)) continue;
    // A reference to a local-storage key of a ConfigMap would break once that key is removed.
    const refKey = entry.valueFrom?.configMapKeyRef?.key;
    if (refKey && isLocalStorageKey(refKey)) continue;
    if (STORAGE_SETTING_KEYS.has(entry.name)) {
      const ref = entry.valueFrom?.secretKeyRef?.name;
      if (ref !== undefined && ref === options.settingsSecretName) {
        keptRefs.add(entry.name);
        env.push(entry);
      } else inlineSettings = true;
      continue;
    }
    env.push(entry);
  }
  if (inlineSettings) {
    const values = options.inlineStorageEnv;
    if (!values) {
      throw new Error(
        `container "${container.name}" of StatefulSet/${stsName} sets storage env inline (it would override the ConfigMap); pass inlineStorageEnv`,
      );
    }
    for (const [name, value] of Object.entries(values))
      if (!keptRefs.has(name)) env.push({ name, value });
  }
  for (const key of S3_CREDENTIAL_KEYS) {
    env.push({ name: key, valueFrom: { secretKeyRef: { name: options.secretName, key } } });
  }
  container.env = env;
}
