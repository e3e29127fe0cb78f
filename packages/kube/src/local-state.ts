import { posix } from 'node:path';
import type { KubeClient } from './client.js';
import { describePinning } from './convert.js';
import { effectiveEnv, type EnvObjectLookup } from './env.js';
import type { Finding } from './inspect.js';
import { objectPath } from './paths.js';
import type {
  ConfigMap,
  PodTemplate,
  V1Container,
  V1PodSpec,
  V1Volume,
  Workload,
} from './types.js';

/**
 * Local state besides Dify's storage tree that the cutover would lose or leave behind on the
 * node: the plugin daemon's local storage, a Qdrant vector store on a local path, a LOG_FILE on
 * the storage volume, and volumes of a converted workload that the Deployment drops or no longer
 * pins. Each finding says what to do; none is silent. Pure: the caller supplies the objects.
 */
export interface LocalStateInput {
  storageMountPath: string;
  /** api and worker: the cutover turns them into Deployments. */
  converted: { workload: Workload; storageVolumeName?: string }[];
  /** The namespace's other Deployments and StatefulSets (the plugin daemon among them). */
  others: Workload[];
  /** ConfigMap and Secret data for envFrom/valueFrom. */
  lookup: EnvObjectLookup;
  /** The cutover's S3 settings, for the plugin daemon's opt-in env. */
  s3: {
    endpoint: string;
    bucket: string;
    region: string;
    addressStyle?: string;
    caBundle?: string;
  };
}

/** Working directories of the images (Dify api Dockerfile: /app/api; plugin daemon: /app). */
const API_WORKDIR = '/app/api';
const DAEMON_WORKDIR = '/app';

const ref = (w: Workload) => `${w.kind ?? 'Workload'}/${w.metadata?.name ?? '?'}`;
const containersOf = (spec: V1PodSpec | undefined): V1Container[] => [
  ...(spec?.initContainers ?? []),
  ...(spec?.containers ?? []),
];

function envOf(c: V1Container, lookup: EnvObjectLookup): Record<string, string | undefined> {
  return Object.fromEntries([...effectiveEnv(c, lookup)].map(([k, v]) => [k, v.value]));
}

function absolute(path: string, cwd: string): string {
  return posix.normalize(posix.isAbsolute(path) ? path : posix.join(cwd, path));
}

function under(path: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, '');
  return path === d || path.startsWith(`${d}/`);
}

/** The container's deepest mount that holds `path`, if any. */
function mountAt(c: V1Container, path: string) {
  return (c.volumeMounts ?? [])
    .filter((m) => under(path, posix.normalize(m.mountPath)))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

/** The volume a container sees at `path` (its deepest mount), if any. */
function volumeAt(spec: V1PodSpec, c: V1Container, path: string): V1Volume | undefined {
  const mount = mountAt(c, path);
  return mount ? spec.volumes?.find((v) => v.name === mount.name) : undefined;
}

function describeVolume(v: V1Volume | undefined): string {
  if (!v) return "the container's own file system (lost at every restart)";
  if (v.hostPath) return `hostPath ${v.hostPath.path} (volume "${v.name}")`;
  if (v.persistentVolumeClaim)
    return `PVC ${v.persistentVolumeClaim.claimName} (volume "${v.name}")`;
  if (v.emptyDir) return `emptyDir "${v.name}"`;
  return `volume "${v.name}"`;
}

export function detectLocalState(input: LocalStateInput): Finding[] {
  const findings: Finding[] = [];
  for (const w of input.others) findings.push(...pluginDaemon(w, input));
  for (const { workload, storageVolumeName } of input.converted) {
    const spec = workload.spec?.template?.spec;
    if (!spec) continue;
    for (const c of containersOf(spec)) {
      const env = envOf(c, input.lookup);
      findings.push(...vectorStore(workload, c, env, input.storageMountPath));
      findings.push(...logFile(workload, c, env, input.storageMountPath));
    }
    findings.push(...droppedVolumes(workload, storageVolumeName));
  }
  return findings;
}

/**
 * Plugin daemon 0.0.9: PLUGIN_STORAGE_TYPE defaults to local (internal/types/app/default.go:18),
 * rooted at PLUGIN_STORAGE_LOCAL_ROOT (default "storage", :25, relative to /app). It keeps
 * plugin/, plugin_packages/, assets/ and persistence/ there; aws_s3 stores the same keys
 * verbatim in PLUGIN_STORAGE_OSS_BUCKET (internal/oss/s3/s3_storage.go:90-125). Its own IAM mode
 * defaults to on and then ignores the endpoint and path style (config.go:18-23, s3_storage.go:28-53).
 */
export interface PluginDaemonStorage {
  container: V1Container;
  /** PLUGIN_STORAGE_TYPE (default local). */
  type: string;
  /** The local root, absolute in the container. */
  root: string;
  /** The volume the root lives on, if any. */
  volume?: V1Volume;
  /** Where in that volume (the mount's subPath plus the root below the mount), '' = its top. */
  volumeSubPath: string;
  /**
   * The directories under the root the daemon keeps in its storage (and, on aws_s3, as key
   * prefixes): PLUGIN_INSTALLED_PATH, PLUGIN_PACKAGE_CACHE_PATH, PLUGIN_MEDIA_CACHE_PATH,
   * PERSISTENCE_STORAGE_PATH (default.go:26-31; installed_bucket.go:25, package_bucket.go:19-22,
   * assets_bucket.go:27-45, persistence/wrapper.go:21-24). PLUGIN_WORKING_PATH is not among them.
   */
  prefixes: string[];
}

/** The plugin daemon's container of a workload and where it stores, or undefined. */
export function pluginDaemonStorage(
  w: Workload,
  lookup: EnvObjectLookup,
): PluginDaemonStorage | undefined {
  const spec = w.spec?.template?.spec;
  for (const c of spec ? spec.containers : []) {
    const env = envOf(c, lookup);
    if (!/dify-plugin-daemon/.test(c.image ?? '') && !('PLUGIN_STORAGE_TYPE' in env)) continue;
    const root = absolute(env.PLUGIN_STORAGE_LOCAL_ROOT || 'storage', DAEMON_WORKDIR);
    const mount = mountAt(c, root);
    const below = mount ? posix.relative(posix.normalize(mount.mountPath), root) : '';
    const prefixes = [
      env.PLUGIN_INSTALLED_PATH || 'plugin',
      env.PLUGIN_PACKAGE_CACHE_PATH || 'plugin_packages',
      env.PLUGIN_MEDIA_CACHE_PATH || 'assets',
      env.PERSISTENCE_STORAGE_PATH || 'persistence',
    ].map((p) => posix.normalize(p).replace(/^\/+|\/+$/g, ''));
    const volume = mount ? spec!.volumes?.find((v) => v.name === mount.name) : undefined;
    return {
      container: c,
      type: env.PLUGIN_STORAGE_TYPE || 'local',
      root,
      ...(volume ? { volume } : {}),
      volumeSubPath: posix.join(mount?.subPath ?? '', below).replace(/^\.$/, ''),
      prefixes,
    };
  }
  return undefined;
}

function pluginDaemon(w: Workload, input: LocalStateInput): Finding[] {
  const spec = w.spec?.template?.spec;
  const out: Finding[] = [];
  const found = pluginDaemonStorage(w, input.lookup);
  for (const c of found && found.type === 'local' ? [found.container] : []) {
    const root = found!.root;
    const s3 = input.s3;
    const optIn = [
      'PLUGIN_STORAGE_TYPE=aws_s3',
      `PLUGIN_STORAGE_OSS_BUCKET=<a bucket for plugins, e.g. ${s3.bucket}-plugins>`,
      'S3_USE_AWS_MANAGED_IAM=false',
      `S3_ENDPOINT=${s3.endpoint}`,
      `S3_USE_PATH_STYLE=${(s3.addressStyle ?? 'path') === 'virtual' ? 'false' : 'true'}`,
      `AWS_REGION=${s3.region}`,
      'AWS_ACCESS_KEY and AWS_SECRET_KEY from a Secret',
      // The daemon is Go: crypto/x509 takes extra roots from SSL_CERT_FILE on Linux.
      ...(s3.caBundle
        ? ['SSL_CERT_FILE pointing at the ConfigMap dify-s3-ca-bundle mounted into the daemon']
        : []),
    ];
    out.push({
      code: 'plugin-daemon-local-storage',
      severity: 'warning',
      message: `${ref(w)} (plugin daemon, container "${c.name}") keeps installed plugins, the package cache, icons and plugin data (plugin/, plugin_packages/, assets/, persistence/ under ${root}) on ${describeVolume(volumeAt(spec!, c, root))}; the cutover does not move it, so it stays local. To move it to S3 (opt-in): \`dify-storage plugin-daemon --phase move --bucket <a bucket of its own>\` stops the daemon, copies those four directories into the bucket with keys relative to ${root}, sets on the daemon ${optIn.join(', ')}, and starts it again (\`--phase rollback\` undoes it). PLUGIN_WORKING_PATH (cwd/) always stays on local disk.`,
    });
  }
  return out;
}

/**
 * Dify's QdrantConfig.to_qdrant_params (api/core/rag/datasource/vdb/qdrant/qdrant_vector.py):
 * QDRANT_URL "path:<dir>" runs Qdrant in-process on <dir>, relative to the app root (/app/api).
 */
function vectorStore(
  w: Workload,
  c: V1Container,
  env: Record<string, string | undefined>,
  storage: string,
): Finding[] {
  const url = env.QDRANT_URL;
  if (env.VECTOR_STORE !== 'qdrant' || !url?.startsWith('path:')) return [];
  const dir = absolute(url.slice('path:'.length), API_WORKDIR);
  if (under(dir, storage)) {
    return [
      {
        code: 'vector-store-on-storage',
        severity: 'blocker',
        message: `${ref(w)} container "${c.name}": QDRANT_URL=${url} keeps the Qdrant vector store in ${dir}, inside the storage path ${storage}; after the cutover that path is an emptyDir and every index is lost. Before the cutover run Qdrant as a service (QDRANT_URL=http://…) and re-index, or mount a PVC at ${dir}.`,
      },
    ];
  }
  return [
    {
      code: 'vector-store-local',
      severity: 'warning',
      message: `${ref(w)} container "${c.name}": QDRANT_URL=${url} keeps the Qdrant vector store in ${dir}, on local state the cutover does not migrate (see the volume findings); a Qdrant service or a PVC keeps it.`,
    },
  ];
}

/** Dify's LOG_FILE (api/configs/feature: LoggingConfig): a path, relative to /app/api. */
function logFile(
  w: Workload,
  c: V1Container,
  env: Record<string, string | undefined>,
  storage: string,
): Finding[] {
  if (!env.LOG_FILE) return [];
  const file = absolute(env.LOG_FILE, API_WORKDIR);
  if (!under(file, storage)) return [];
  return [
    {
      code: 'log-file-on-storage',
      severity: 'warning',
      message: `${ref(w)} container "${c.name}": LOG_FILE=${env.LOG_FILE} writes the log into the storage path (${file}): the copy uploads it as an object, and after the cutover it is written to an emptyDir and lost with the pod. Point LOG_FILE outside ${storage} (e.g. /app/logs/server.log on its own volume) or unset it (logs go to stdout).`,
    },
  ];
}

/**
 * Volumes besides the storage: the conversion drops volumeClaimTemplates (convert.ts), keeps
 * hostPaths but not the node pin, and replaces the pods (emptyDirs start empty).
 */
function droppedVolumes(w: Workload, storageVolumeName: string | undefined): Finding[] {
  const spec = w.spec?.template?.spec;
  const out: Finding[] = [];
  const mountsOf = (name: string) =>
    containersOf(spec)
      .flatMap((c) =>
        (c.volumeMounts ?? [])
          .filter((m) => m.name === name)
          .map((m) => `${c.name}:${m.mountPath}`),
      )
      .join(', ');
  const templates = ((w.spec?.volumeClaimTemplates ?? []) as { metadata?: { name?: string } }[])
    .map((t) => t.metadata?.name)
    .filter((n): n is string => !!n && n !== storageVolumeName);
  for (const name of templates) {
    out.push({
      code: 'claim-template-dropped',
      severity: 'blocker',
      message: `${ref(w)}: volumeClaimTemplate "${name}" (mounted at ${mountsOf(name) || 'no path'}) has no place in a Deployment; the conversion drops it and its PVCs keep data no pod mounts. Move that data elsewhere (a shared PVC or object storage) first.`,
    });
  }
  const pins = describePinning(spec);
  for (const v of spec?.volumes ?? []) {
    if (v.name === storageVolumeName) continue;
    if (v.hostPath && pins.length) {
      out.push({
        code: 'hostpath-unpinned',
        severity: 'warning',
        message: `${ref(w)}: hostPath ${v.hostPath.path} (volume "${v.name}", mounted at ${mountsOf(v.name)}) stays in the Deployment, but the pin (${pins.join('; ')}) goes, so a pod on another node sees that node's directory instead. Move the data to a PVC or object storage, or accept that it is node-local.`,
      });
    } else if (v.emptyDir) {
      out.push({
        code: 'emptydir-replaced',
        severity: 'info',
        message: `${ref(w)}: emptyDir "${v.name}" (mounted at ${mountsOf(v.name)}) starts empty in the Deployment's pods, as after any restart.`,
      });
    }
  }
  return out;
}

/** The namespace's Deployments and StatefulSets besides api and worker, with the ConfigMaps they read. */
export interface OtherWorkloads {
  workloads: Workload[];
  configMaps: Record<string, Record<string, string>>;
}

export async function readOtherWorkloads(
  client: KubeClient,
  namespace: string,
  exclude: string[],
): Promise<OtherWorkloads> {
  const workloads: Workload[] = [];
  for (const kind of ['Deployment', 'StatefulSet'] as const) {
    for (const w of await client.list<Workload>(kind, namespace)) {
      if (!exclude.includes(w.metadata?.name ?? '')) workloads.push({ ...w, kind });
    }
  }
  // A CronJob's pods come from spec.jobTemplate.spec.template: seen here through spec.template,
  // a read-only view for the findings (the freeze patches the real object).
  for (const cj of await client.list<Workload>('CronJob', namespace)) {
    const jobTemplate = cj.spec?.jobTemplate as { spec?: { template?: PodTemplate } } | undefined;
    const template = jobTemplate?.spec?.template;
    workloads.push({
      ...cj,
      kind: 'CronJob',
      spec: { ...cj.spec, ...(template ? { template } : {}) },
    });
  }
  const configMaps: Record<string, Record<string, string>> = {};
  const names = workloads.flatMap((w) =>
    containersOf(w.spec?.template?.spec).flatMap((c) => [
      ...(c.envFrom ?? []).map((e) => e.configMapRef?.name),
      ...(c.env ?? []).map((e) => e.valueFrom?.configMapKeyRef?.name),
    ]),
  );
  for (const name of new Set(names.filter((n): n is string => !!n))) {
    const cm = await client.getOrNull<ConfigMap>(objectPath('ConfigMap', namespace, name));
    if (cm?.data) configMaps[name] = cm.data;
  }
  return { workloads, configMaps };
}
