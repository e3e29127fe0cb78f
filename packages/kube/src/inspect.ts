import type { KubeClient } from './client.js';
import { isLocalStorageKey, S3_CREDENTIAL_KEYS } from './configmap.js';
import { CONVERTED_FROM_ANNOTATION, describePinning } from './convert.js';
import { labelSelectorString, objectPath } from './paths.js';
import { REDACTED } from './diff.js';
import type { EnvObjectLookup } from './env.js';
import { readOtherWorkloads, type OtherWorkloads } from './local-state.js';
import { otherStorageWriters } from './other-workloads.js';
import { storageRootFindings } from './storage-root.js';
import { resolveClaim, type ResolvedVolume } from './volumes.js';
import type {
  ConfigMap,
  KubeObject,
  Pod,
  Secret,
  V1Container,
  V1PodSpec,
  Workload,
} from './types.js';

export interface InspectOptions {
  namespace: string;
  apiName?: string;
  workerName?: string;
  /** Where Dify keeps its files in the containers. */
  storageMountPath?: string;
  /** The ConfigMap that carries the storage settings, when several are referenced. */
  configMapName?: string;
  /** The pod whose node holds the data (default `<apiName>-0`). */
  apiPodName?: string;
}

export type StorageSource =
  'hostPath' | 'persistentVolumeClaim' | 'volumeClaimTemplate' | 'emptyDir' | 'other';

export interface StorageVolumeInfo {
  volumeName: string;
  source: StorageSource;
  /** For hostPath: the directory on the node and its type ('' when unset). */
  hostPath?: { path: string; type: string };
  /** For persistentVolumeClaim: the claim. */
  claimName?: string;
  /** The subPath of the mount at the storage path (of the first container mounting it). */
  subPath?: string;
  /** Containers (and init containers) mounting it at the storage path. */
  containers: string[];
}

export interface PodInfo {
  name: string;
  nodeName?: string;
  phase?: string;
}

export interface WorkloadInspection {
  role: 'api' | 'worker';
  name: string;
  /** Which kinds exist under this name. */
  state: 'statefulset' | 'deployment' | 'both' | 'missing';
  statefulSet?: Workload;
  deployment?: Workload;
  replicas?: number;
  storage?: StorageVolumeInfo;
  /**
   * Where the storage really is: one entry, or one per ordinal for volumeClaimTemplates
   * (see volumes.ts).
   */
  volumes: ResolvedVolume[];
  pinning: string[];
  configMaps: string[];
  secrets: string[];
  /** Containers that set storage env inline (it overrides the ConfigMap). */
  inlineStorageEnv: string[];
  pods: PodInfo[];
}

export interface ServiceInfo {
  name: string;
  selector: Record<string, string>;
  /** Names of the inspected workloads whose pods it selects. */
  selects: string[];
}

export interface ConfigMapInfo {
  name: string;
  exists: boolean;
  optional: boolean;
  storageType?: string;
  /** Keys about storage (STORAGE_TYPE, S3_*, OPENDAL_*, STORAGE_LOCAL_PATH). */
  storageKeys: string[];
  object?: ConfigMap;
}

export type FindingSeverity = 'blocker' | 'warning' | 'info';

export interface Finding {
  code: string;
  severity: FindingSeverity;
  message: string;
}

export interface InstallInspection {
  namespace: string;
  storageMountPath: string;
  api: WorkloadInspection;
  worker: WorkloadInspection;
  apiPod?: PodInfo;
  /** The node holding the api's storage (from its pod, else from its pinning). */
  node?: string;
  configMaps: ConfigMapInfo[];
  /** The ConfigMap the cutover will change, when one could be chosen. */
  storageConfigMap?: string;
  secrets: string[];
  /**
   * The storage keys (STORAGE_TYPE, S3_*, OPENDAL_*, STORAGE_LOCAL_PATH) of each referenced
   * Secret, decoded; credential values are replaced by a placeholder. Missing Secrets are absent.
   */
  secretSettings: Record<string, Record<string, string>>;
  services: ServiceInfo[];
  findings: Finding[];
  /** Both workloads are Deployments already and no StatefulSet is left. */
  converted: boolean;
  /** The namespace's other workloads (e.g. the plugin daemon), for the local-state findings. */
  others: OtherWorkloads;
}

/**
 * Reads what the cutover needs to know about a Dify install and explains, finding by finding,
 * where the namespace differs from the expected shape. Changes nothing.
 */
export async function inspectInstall(
  client: KubeClient,
  options: InspectOptions,
): Promise<InstallInspection> {
  const namespace = options.namespace;
  const storageMountPath = options.storageMountPath ?? '/app/api/storage';
  const apiName = options.apiName ?? 'dify-api';
  const workerName = options.workerName ?? 'dify-worker';
  const findings: Finding[] = [];

  const api = await inspectWorkload(client, namespace, 'api', apiName, storageMountPath);
  const worker = await inspectWorkload(client, namespace, 'worker', workerName, storageMountPath);

  const apiPodName = options.apiPodName ?? `${apiName}-0`;
  const apiPodObject = await client.getOrNull<Pod>(objectPath('Pod', namespace, apiPodName));
  const apiPod = apiPodObject ? podInfo(apiPodObject) : undefined;

  // ConfigMaps referenced by either workload (plus the one named explicitly).
  const refs = new Map<string, boolean>();
  for (const w of [api, worker]) {
    const spec = podSpecOf(w);
    for (const ref of configMapRefs(spec))
      refs.set(ref.name, (refs.get(ref.name) ?? true) && ref.optional);
  }
  if (options.configMapName && !refs.has(options.configMapName))
    refs.set(options.configMapName, false);
  const configMaps: ConfigMapInfo[] = [];
  for (const [name, optional] of refs) {
    const cm = await client.getOrNull<ConfigMap>(objectPath('ConfigMap', namespace, name));
    const keys = Object.keys(cm?.data ?? {})
      .filter(isStorageKey)
      .sort();
    configMaps.push({
      name,
      exists: !!cm,
      optional,
      storageKeys: keys,
      ...(cm?.data?.STORAGE_TYPE ? { storageType: cm.data.STORAGE_TYPE } : {}),
      ...(cm ? { object: cm } : {}),
    });
  }

  const services = await inspectServices(client, namespace, [api, worker]);
  const secrets = [...new Set([...api.secrets, ...worker.secrets])].sort();
  const secretSettings = await readSecretSettings(client, namespace, secrets);

  const inspection: InstallInspection = {
    namespace,
    storageMountPath,
    api,
    worker,
    ...(apiPod ? { apiPod } : {}),
    configMaps,
    secrets,
    secretSettings,
    services,
    findings,
    converted: false,
    others: await readOtherWorkloads(client, namespace, [apiName, workerName]),
  };
  const node = apiPod?.nodeName ?? api.volumes[0]?.node ?? pinnedNode(podSpecOf(api));
  if (node) inspection.node = node;
  inspection.storageConfigMap = chooseStorageConfigMap(inspection, options.configMapName);
  inspection.converted = [api, worker].every((w) => w.state === 'deployment');
  findings.push(
    ...explain(inspection, options.configMapName),
    ...splitDataFindings(inspection),
    ...storageRootFindings(inspection),
  );
  return inspection;
}

async function inspectWorkload(
  client: KubeClient,
  namespace: string,
  role: 'api' | 'worker',
  name: string,
  storageMountPath: string,
): Promise<WorkloadInspection> {
  const sts = await client.getOrNull<Workload>(objectPath('StatefulSet', namespace, name));
  const deployment = await client.getOrNull<Workload>(objectPath('Deployment', namespace, name));
  const state =
    sts && deployment ? 'both' : sts ? 'statefulset' : deployment ? 'deployment' : 'missing';
  const w: WorkloadInspection = {
    role,
    name,
    state,
    volumes: [],
    pinning: [],
    configMaps: [],
    secrets: [],
    inlineStorageEnv: [],
    pods: [],
  };
  if (sts) w.statefulSet = { apiVersion: 'apps/v1', kind: 'StatefulSet', ...sts };
  if (deployment) w.deployment = { apiVersion: 'apps/v1', kind: 'Deployment', ...deployment };
  const source = w.statefulSet ?? w.deployment;
  if (!source) return w;
  if (source.spec?.replicas !== undefined) w.replicas = source.spec.replicas;
  const spec = source.spec?.template?.spec;
  w.pinning = describePinning(spec);
  w.configMaps = [...new Set(configMapRefs(spec).map((r) => r.name))].sort();
  w.secrets = secretRefs(spec);
  w.inlineStorageEnv = allContainers(spec)
    .filter((c) =>
      (c.env ?? []).some(
        (e) => isStorageKey(e.name) && !S3_CREDENTIAL_KEYS.includes(e.name as never),
      ),
    )
    .map((c) => c.name);
  const storage = storageVolume(source, storageMountPath);
  if (storage) w.storage = storage;
  const matchLabels = source.spec?.selector?.matchLabels;
  if (matchLabels && Object.keys(matchLabels).length) {
    const pods = await client.list<Pod>('Pod', namespace, {
      labelSelector: labelSelectorString(matchLabels),
    });
    w.pods = pods.map(podInfo);
  }
  if (storage) w.volumes = await resolveVolumes(client, namespace, w, storage);
  return w;
}

/** The storage of each pod of the workload (one entry unless claims are per ordinal). */
async function resolveVolumes(
  client: KubeClient,
  namespace: string,
  w: WorkloadInspection,
  storage: StorageVolumeInfo,
): Promise<ResolvedVolume[]> {
  const sub = storage.subPath;
  const withNode = (v: ResolvedVolume, podName?: string): ResolvedVolume => {
    if (v.node || !v.nodeLocal) return v;
    const running = w.pods.find((p) => p.nodeName && (!podName || p.name === podName))?.nodeName;
    const pinned = pinnedNode(podSpecOf(w));
    if (running) return { ...v, node: running, nodeFrom: 'pods' };
    return pinned ? { ...v, node: pinned, nodeFrom: 'pinning' } : v;
  };
  if (storage.source === 'hostPath' && storage.hostPath) {
    const path = sub
      ? `${storage.hostPath.path.replace(/\/+$/, '')}/${sub}`
      : storage.hostPath.path;
    return [
      withNode({ kind: 'hostPath', nodeLocal: true, path, ...(sub ? { subPath: sub } : {}) }),
    ];
  }
  if (storage.source === 'persistentVolumeClaim' && storage.claimName)
    return [withNode(await resolveClaim(client, namespace, storage.claimName, sub))];
  if (storage.source === 'volumeClaimTemplate') {
    const out: ResolvedVolume[] = [];
    for (let i = 0; i < Math.max(w.replicas ?? 1, 1); i++) {
      const pod = `${w.name}-${i}`;
      const v = await resolveClaim(client, namespace, `${storage.volumeName}-${pod}`, sub);
      out.push(withNode({ ...v, ordinal: i }, pod));
    }
    return out;
  }
  return [
    {
      kind: 'other',
      nodeLocal: false,
      problem: `volume "${storage.volumeName}" is a ${storage.source}`,
    },
  ];
}

function podInfo(pod: Pod): PodInfo {
  return {
    name: pod.metadata?.name ?? '',
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(pod.status?.phase ? { phase: pod.status.phase } : {}),
  };
}

function podSpecOf(w: WorkloadInspection): V1PodSpec | undefined {
  return (w.statefulSet ?? w.deployment)?.spec?.template?.spec;
}

function allContainers(spec: V1PodSpec | undefined): V1Container[] {
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

/** What makes two resolved volumes the same data (the node is compared separately). */
export function volumeIdentity(v: ResolvedVolume): string {
  if (v.nfs) return `nfs://${v.nfs.server}${v.path ?? ''}`;
  if (v.persistentVolume) return `pv:${v.persistentVolume}:${v.subPath ?? ''}`;
  return `${v.kind}:${v.path ?? ''}`;
}

/**
 * Why one runner cannot read all these node-local volumes (they are on different nodes), naming
 * the nodes; undefined when it can (one node, or storage not tied to a node).
 */
function nodesApart(volumes: ResolvedVolume[]): string | undefined {
  const local = volumes.filter((v) => v.nodeLocal && v.node);
  const nodes = [...new Set(local.map((v) => v.node!))];
  if (nodes.length < 2) return undefined;
  return `those are node-local volumes on nodes ${nodes.join(' and ')}, and a runner reads one node's disk only, so it cannot back up and copy them all`;
}

/** `local PV "x" path /mnt/d on node-1`, `hostPath /root/dify/... on node-1`, `NFS srv:/export`. */
export function describeVolume(v: ResolvedVolume): string {
  const claim = v.claim ? `claim "${v.claim}" → ` : '';
  const pv = v.persistentVolume ? ` PV "${v.persistentVolume}"` : '';
  const on = v.node ? ` on node ${v.node}` : '';
  if (v.kind === 'nfs') return `${claim}NFS${pv} ${v.nfs?.server}:${v.path}`;
  return `${claim}${v.kind}${pv} ${v.path ?? '(unknown path)'}${on}`;
}

export function isStorageKey(key: string): boolean {
  return key === 'STORAGE_TYPE' || key.startsWith('S3_') || isLocalStorageKey(key);
}

/** The storage keys of each existing Secret, decoded; credentials only as a placeholder. */
async function readSecretSettings(
  client: KubeClient,
  namespace: string,
  names: string[],
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const name of names) {
    const secret = await client.getOrNull<Secret>(objectPath('Secret', namespace, name));
    if (!secret) continue;
    const keys: Record<string, string> = {};
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      if (!isStorageKey(key)) continue;
      const secretValue = (S3_CREDENTIAL_KEYS as readonly string[]).includes(key);
      keys[key] = secretValue ? REDACTED : Buffer.from(value, 'base64').toString('utf8');
    }
    out[name] = keys;
  }
  return out;
}

/**
 * Looks up ConfigMap data and Secret storage keys as the inspection saw them, with optional
 * replacements (the data a planned change would leave), for effectiveEnv.
 */
export function inspectionEnvLookup(
  inspection: InstallInspection,
  replaced: {
    ConfigMap?: Record<string, Record<string, string>>;
    Secret?: Record<string, Record<string, string>>;
  } = {},
): EnvObjectLookup {
  return (kind, name) => {
    const override = replaced[kind]?.[name];
    if (override) return override;
    if (kind === 'Secret') return inspection.secretSettings[name];
    return inspection.configMaps.find((c) => c.name === name)?.object?.data ?? undefined;
  };
}

/** The volume mounted at the storage path, whatever backs it. */
export function storageVolume(
  workload: Workload,
  storageMountPath: string,
): StorageVolumeInfo | undefined {
  const spec = workload.spec?.template?.spec;
  const wanted = storageMountPath.replace(/\/+$/, '');
  let volumeName: string | undefined;
  let subPath: string | undefined;
  const containers: string[] = [];
  for (const c of allContainers(spec)) {
    const mount = (c.volumeMounts ?? []).find((m) => m.mountPath.replace(/\/+$/, '') === wanted);
    if (!mount) continue;
    if (!volumeName) subPath = mount.subPath || undefined;
    volumeName ??= mount.name;
    containers.push(c.name);
  }
  if (!volumeName) return undefined;
  const volume = (spec?.volumes ?? []).find((v) => v.name === volumeName);
  const claims = ((workload.spec?.volumeClaimTemplates as KubeObject[] | undefined) ?? []).map(
    (t) => t.metadata?.name,
  );
  let source: StorageSource = 'other';
  if (volume?.hostPath) source = 'hostPath';
  else if (volume?.persistentVolumeClaim) source = 'persistentVolumeClaim';
  else if (volume?.emptyDir) source = 'emptyDir';
  else if (!volume && claims.includes(volumeName)) source = 'volumeClaimTemplate';
  return {
    volumeName,
    source,
    ...(volume?.hostPath
      ? { hostPath: { path: volume.hostPath.path, type: volume.hostPath.type ?? '' } }
      : {}),
    ...(volume?.persistentVolumeClaim ? { claimName: volume.persistentVolumeClaim.claimName } : {}),
    ...(subPath ? { subPath } : {}),
    containers,
  };
}

interface ConfigMapRef {
  name: string;
  optional: boolean;
}

export function configMapRefs(spec: V1PodSpec | undefined): ConfigMapRef[] {
  const refs: ConfigMapRef[] = [];
  for (const c of allContainers(spec)) {
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef?.name)
        refs.push({ name: e.configMapRef.name, optional: !!e.configMapRef.optional });
    }
    for (const e of c.env ?? []) {
      const r = e.valueFrom?.configMapKeyRef;
      if (r?.name) refs.push({ name: r.name, optional: !!r.optional });
    }
  }
  for (const v of spec?.volumes ?? []) {
    if (v.configMap?.name) refs.push({ name: v.configMap.name, optional: !!v.configMap.optional });
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap?.name)
        refs.push({ name: s.configMap.name, optional: !!s.configMap.optional });
    }
  }
  return refs;
}

export function secretRefs(spec: V1PodSpec | undefined): string[] {
  const names = new Set<string>();
  for (const c of allContainers(spec)) {
    for (const e of c.envFrom ?? []) if (e.secretRef?.name) names.add(e.secretRef.name);
    for (const e of c.env ?? []) {
      const name = e.valueFrom?.secretKeyRef?.name;
      if (name) names.add(name);
    }
  }
  for (const v of spec?.volumes ?? []) {
    if (v.secret?.secretName) names.add(v.secret.secretName);
    for (const s of v.projected?.sources ?? []) if (s.secret?.name) names.add(s.secret.name);
  }
  return [...names].sort();
}

function pinnedNode(spec: V1PodSpec | undefined): string | undefined {
  if (!spec) return undefined;
  if (spec.nodeName) return spec.nodeName;
  const selected = spec.nodeSelector?.['kubernetes.io/hostname'];
  if (selected) return selected;
  for (const term of spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
    ?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) {
      if (e.key === 'kubernetes.io/hostname' && e.operator === 'In' && e.values?.length === 1)
        return e.values[0];
    }
  }
  return undefined;
}

async function inspectServices(
  client: KubeClient,
  namespace: string,
  workloads: WorkloadInspection[],
): Promise<ServiceInfo[]> {
  const services = await client.list<KubeObject>('Service', namespace);
  const result: ServiceInfo[] = [];
  for (const svc of services) {
    const selector =
      (svc.spec as { selector?: Record<string, string> } | undefined)?.selector ?? {};
    if (Object.keys(selector).length === 0) continue;
    const selects = workloads
      .filter((w) => {
        const labels = (w.statefulSet ?? w.deployment)?.spec?.template?.metadata?.labels ?? {};
        return Object.entries(selector).every(([k, v]) => labels[k] === v);
      })
      .map((w) => w.name);
    if (selects.length) result.push({ name: svc.metadata?.name ?? '', selector, selects });
  }
  return result.sort((a, b) => a.name.localeCompare(b.name));
}

function chooseStorageConfigMap(
  inspection: InstallInspection,
  explicit?: string,
): string | undefined {
  if (explicit) return explicit;
  const existing = inspection.configMaps.filter((c) => c.exists);
  const withStorage = existing.filter((c) => c.storageKeys.length > 0);
  if (withStorage.length === 1) return withStorage[0]?.name;
  if (withStorage.length === 0 && existing.length === 1) return existing[0]?.name;
  return undefined;
}

/**
 * The findings about the install's shape, in a fixed order: each workload, the storage both
 * share, the api pod, the ConfigMaps, routing.
 */
function explain(i: InstallInspection, explicitConfigMap?: string): Finding[] {
  return [
    ...[i.api, i.worker].flatMap((w) => workloadFindings(i, w)),
    ...sharedStorageFindings(i),
    ...apiPodFindings(i),
    ...configMapFindings(i, explicitConfigMap),
    ...serviceFindings(i),
  ];
}

function finding(code: string, severity: FindingSeverity, message: string): Finding {
  return { code, severity, message };
}

/** What kind the workload is now, its storage mount, and inline storage env. */
function workloadFindings(i: InstallInspection, w: WorkloadInspection): Finding[] {
  const f: Finding[] = [];
  if (w.state === 'missing') {
    f.push(
      finding(
        'workload-missing',
        'blocker',
        `Neither a StatefulSet nor a Deployment named "${w.name}" exists in namespace "${i.namespace}"; check the namespace and the ${w.role} name.`,
      ),
    );
  } else if (w.state === 'deployment') {
    const ours = w.deployment?.metadata?.annotations?.[CONVERTED_FROM_ANNOTATION] === 'StatefulSet';
    f.push(
      finding(
        'already-deployment',
        'info',
        `"${w.name}" is already a Deployment${ours ? ' (converted by this tool)' : ''} and no StatefulSet of that name is left: there is nothing to convert for it.`,
      ),
    );
  } else if (w.state === 'both') {
    f.push(
      finding(
        'partially-converted',
        'warning',
        `Both a StatefulSet and a Deployment named "${w.name}" exist: an earlier cutover stopped half way. Applying again converges (the StatefulSet is deleted once the Deployment is rolled out).`,
      ),
    );
  }
  if (w.statefulSet) f.push(...storageMountFindings(i, w));
  if (w.inlineStorageEnv.length) {
    f.push(
      finding(
        'inline-storage-env',
        'info',
        `Containers ${w.inlineStorageEnv.join(', ')} of "${w.name}" set storage env inline (it overrides the ConfigMap); the Deployment gets the S3 settings inline as well.`,
      ),
    );
  }
  return f;
}

/** A StatefulSet's storage mount: missing, unresolvable, or an unpinned hostPath. */
function storageMountFindings(i: InstallInspection, w: WorkloadInspection): Finding[] {
  if (!w.storage) {
    return [
      finding(
        'no-storage-mount',
        'blocker',
        `StatefulSet "${w.name}" mounts nothing at ${i.storageMountPath}: Dify keeps its files in the container's own filesystem or elsewhere, so there is no hostPath to migrate from. Check storageMountPath.`,
      ),
    ];
  }
  const storage = w.storage;
  const f = w.volumes
    .filter((x) => x.problem)
    .map((v) =>
      finding(
        'storage-unresolved',
        'blocker',
        `StatefulSet "${w.name}" mounts volume "${storage.volumeName}" (${storage.source}) at ${i.storageMountPath}, but ${v.problem}: the files cannot be located on a node.`,
      ),
    );
  if (storage.source === 'hostPath' && w.pinning.length === 0) {
    f.push(
      finding(
        'not-pinned',
        'warning',
        `StatefulSet "${w.name}" uses hostPath ${storage.hostPath?.path} but is not pinned to a node: the node is taken from its running pods (${w.volumes[0]?.node ?? 'none running'}). Pods that ran on other nodes in the past may have written files there; the API keeps no reliable history of that, so check those nodes' ${storage.hostPath?.path} by hand.`,
      ),
    );
  }
  return f;
}

/** Where the pods run, else (frozen, no pods) where the specs pin them. */
function nodesOf(w: WorkloadInspection): Set<string> {
  const running = w.pods.map((p) => p.nodeName).filter((n): n is string => !!n);
  const pinned = pinnedNode(podSpecOf(w));
  return new Set(running.length ? running : pinned ? [pinned] : []);
}

/** The api and the worker must see the same files: one volume, and one node if node-local. */
function sharedStorageFindings(i: InstallInspection): Finding[] {
  const f: Finding[] = [];
  const a = i.api.volumes[0];
  const b = i.worker.volumes[0];
  if (a && b && !a.problem && !b.problem && volumeIdentity(a) !== volumeIdentity(b)) {
    const both = a.kind === 'hostPath' && b.kind === 'hostPath';
    const apart = nodesApart([a, b]);
    f.push(
      finding(
        both ? 'different-hostpaths' : 'different-volumes',
        apart ? 'blocker' : 'warning',
        apart
          ? `${i.api.name} stores files in ${describeVolume(a)} but ${i.worker.name} in ${describeVolume(b)}: ${apart}. Move ${i.worker.name}'s files onto node ${a.node} (into its own volume there, or the api's), then plan again.`
          : `${i.api.name} stores files in ${describeVolume(a)} but ${i.worker.name} in ${describeVolume(b)}: each sees different files. Backup, migrate, cutover and rollback take both trees (this runner must see both); a key in both with different content blocks the cutover until it is resolved.`,
      ),
    );
  }
  const apiNodes = nodesOf(i.api);
  const workerNodes = nodesOf(i.worker);
  if (
    a?.nodeLocal &&
    b?.nodeLocal &&
    apiNodes.size &&
    workerNodes.size &&
    [...workerNodes].some((n) => !apiNodes.has(n))
  ) {
    f.push(
      finding(
        'different-nodes',
        'blocker',
        `${i.api.name} runs on ${[...apiNodes].join(', ')} but ${i.worker.name} on ${[...workerNodes].join(', ')}: a ${a.kind} volume is per node, so each node's directory holds different files and the worker's would be lost. Move both to one node first.`,
      ),
    );
  }
  return f;
}

function apiPodFindings(i: InstallInspection): Finding[] {
  if (!i.api.statefulSet || i.apiPod) return [];
  return [
    finding(
      'api-pod-missing',
      i.node ? 'warning' : 'blocker',
      `Pod "${i.api.name}-0" does not exist (scaled to zero?)${i.node ? `; the node "${i.node}" is taken from the StatefulSet's pinning` : ' and the StatefulSet is not pinned: the node holding the files is unknown'}.`,
    ),
  ];
}

/** Each referenced ConfigMap, then whether one can carry the S3 settings. */
function configMapFindings(i: InstallInspection, explicitConfigMap?: string): Finding[] {
  const f: Finding[] = [];
  for (const cm of i.configMaps) {
    if (!cm.exists && !cm.optional) {
      f.push(
        finding(
          'configmap-missing',
          'blocker',
          `ConfigMap "${cm.name}" is referenced by the workloads but does not exist.`,
        ),
      );
    }
    const creds = cm.storageKeys.filter((k) =>
      (S3_CREDENTIAL_KEYS as readonly string[]).includes(k),
    );
    if (creds.length) {
      f.push(
        finding(
          'credentials-in-configmap',
          'warning',
          `ConfigMap "${cm.name}" holds ${creds.join(', ')}: credentials do not belong in a ConfigMap; the cutover removes them and uses a Secret.`,
        ),
      );
    }
    if (cm.storageType === 's3')
      f.push(
        finding(
          'configmap-already-s3',
          'info',
          `ConfigMap "${cm.name}" already has STORAGE_TYPE=s3.`,
        ),
      );
  }
  const anyInline = i.api.inlineStorageEnv.length + i.worker.inlineStorageEnv.length > 0;
  if (!i.storageConfigMap && !anyInline && !i.converted) {
    const withStorage = i.configMaps.filter((c) => c.exists && c.storageKeys.length);
    const msg = explicitConfigMap
      ? `ConfigMap "${explicitConfigMap}" was named but is not usable.`
      : withStorage.length > 1
        ? `Several ConfigMaps hold storage settings (${withStorage.map((c) => c.name).join(', ')}); name the one to change (configMapName).`
        : 'No ConfigMap referenced by the workloads could carry the S3 settings; name one (configMapName).';
    f.push(finding('no-storage-configmap', 'blocker', msg));
  }
  return f;
}

function serviceFindings(i: InstallInspection): Finding[] {
  if (i.converted || i.services.some((s) => s.selects.includes(i.api.name))) return [];
  return [
    finding(
      'no-service',
      'warning',
      `No Service selects the pods of "${i.api.name}": nothing routes traffic to it.`,
    ),
  ];
}

/**
 * Data split across pods of one workload. A claim per ordinal (volumeClaimTemplates with several
 * replicas): every ordinal's tree is backed up, copied and restored (operations' storage-trees),
 * refused only when they are node-local on different nodes. Node-local storage without a claim per
 * ordinal whose pods run on several nodes: each node's directory holds different files under the
 * one path, which no runner can tell apart, so the plan refuses and names the nodes.
 */
function splitDataFindings(i: InstallInspection): Finding[] {
  const out: Finding[] = [];
  for (const w of [i.api, i.worker]) {
    if (!w.statefulSet) continue;
    const others = w.volumes.filter((v) => (v.ordinal ?? 0) > 0);
    if (others.length) {
      const apart = nodesApart(w.volumes);
      const each = others.map(
        (v) => `ordinal ${v.ordinal} keeps its own files in ${describeVolume(v)}`,
      );
      out.push({
        code: 'ordinal-volumes',
        severity: apart ? 'blocker' : 'warning',
        message: apart
          ? `StatefulSet "${w.name}" has ${w.volumes.length} replicas with a claim each: ${each.join('; ')}; ${apart}. Move those files onto node ${w.volumes[0]?.node} (into ordinal 0's volume, or volumes there), then plan again.`
          : `StatefulSet "${w.name}" has ${w.volumes.length} replicas with a claim each: ${each.join('; ')}. Backup, migrate, cutover and rollback take every ordinal's tree (this runner must see them all); a key in several with different content blocks the cutover until it is resolved.`,
      });
    }
    const nodes = [...new Set(w.pods.map((p) => p.nodeName).filter((n): n is string => !!n))];
    if (w.volumes[0]?.nodeLocal && w.volumes[0].ordinal === undefined && nodes.length > 1) {
      out.push({
        code: 'pods-on-several-nodes',
        severity: 'blocker',
        message: `The pods of "${w.name}" run on ${nodes.join(', ')} with a node-local ${w.volumes[0].kind} (${w.volumes[0].path}): each node's directory holds different files, and only one node's is backed up and copied. Move the files to one node and pin the workload there, then plan again.`,
      });
    }
  }
  return out;
}

/**
 * What a backup should snapshot for this install: the workloads, the ConfigMaps they use, the
 * Services selecting them, the claims behind the storage, the other workloads that write the
 * storage (the cutover freezes them; rollback gives them back their replicas or suspend), and
 * (as digests only) the Secrets they reference.
 */
export function snapshotTargets(inspection: InstallInspection): {
  objects: { kind: SnapshotKind; name: string }[];
  secrets: string[];
} {
  const objects: { kind: SnapshotKind; name: string }[] = [];
  for (const w of [inspection.api, inspection.worker]) {
    if (w.statefulSet) objects.push({ kind: 'StatefulSet', name: w.name });
    if (w.deployment) objects.push({ kind: 'Deployment', name: w.name });
  }
  for (const cm of inspection.configMaps)
    if (cm.exists) objects.push({ kind: 'ConfigMap', name: cm.name });
  for (const svc of inspection.services) objects.push({ kind: 'Service', name: svc.name });
  const claims = [inspection.api, inspection.worker].flatMap((w) =>
    w.volumes.flatMap((v) => (v.claim && !v.problem ? [v.claim] : [])),
  );
  for (const claim of new Set(claims)) objects.push({ kind: 'PersistentVolumeClaim', name: claim });
  for (const w of otherStorageWriters(inspection)) objects.push(w);
  return { objects, secrets: [...inspection.secrets] };
}

type SnapshotKind =
  'StatefulSet' | 'Deployment' | 'ConfigMap' | 'Service' | 'PersistentVolumeClaim' | 'CronJob';
