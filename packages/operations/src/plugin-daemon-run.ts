/**
 * The plugin daemon's opt-in move from its local storage to its own S3 backend, and the way
 * back. dify-plugin-daemon 0.0.9 (the one Dify 1.3.0 ships): PLUGIN_STORAGE_TYPE=aws_s3 keeps
 * the same keys as the local root (`plugin/…`, `plugin_packages/…`, `assets/…`,
 * `persistence/…`) verbatim in PLUGIN_STORAGE_OSS_BUCKET (internal/oss/s3/s3_storage.go:90-125;
 * local: internal/oss/local/local_storage.go, filepath.Join(root, key)). Its S3 client reads
 * S3_USE_AWS_MANAGED_IAM (default true: then endpoint and path style are ignored),
 * S3_ENDPOINT, S3_USE_PATH_STYLE, AWS_ACCESS_KEY, AWS_SECRET_KEY, AWS_REGION
 * (internal/types/app/config.go:18-23, 32-34; s3_storage.go:23-71). PLUGIN_WORKING_PATH stays
 * on local disk whatever the type, so the volume stays mounted.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  BlockedError,
  ConfigurationError,
  KUBE_NAME,
  parseInputs,
  parseKubeTarget,
  parseS3Target,
  type InputReader,
  type KubeTarget,
  type SecretMasker,
} from '@dify-storage/action-kit';
import {
  CA_BUNDLE_CONFIGMAP,
  CA_BUNDLE_PATH,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  caBundleConfigMap,
  objectPath,
  pluginDaemonStorage,
  readOtherWorkloads,
  scaleToZeroAndWait,
  scaleWorkload,
  waitForRollout,
  type KubeClient,
  type PluginDaemonStorage,
  type Workload,
} from '@dify-storage/kube';
import type { S3Credentials, S3Target } from '@dify-storage/s3';
import { syncFromBucket, syncToBucket } from '@dify-storage/sync';
import type { Logger } from './logger.js';
import { DEFAULT_STATE_DIR, kubeClient } from './targets.js';
import { writeJsonAtomic } from '@dify-storage/common';

export const PLUGIN_DAEMON_SECRET = 'dify-plugin-daemon-s3';

export interface PluginDaemonConfig {
  phase: 'move' | 'rollback';
  kube: KubeTarget;
  /** The daemon's Deployment or StatefulSet (default dify-plugin-daemon). */
  daemonName: string;
  /** The daemon's own bucket (its keys would mix with Dify's otherwise). */
  s3: S3Target;
  /** The directory holding the daemon's local root, as this runner sees it; default its hostPath. */
  pluginStoragePath?: string;
  stateDir: string;
  rolloutTimeoutSeconds: number;
}

/** The opt-in step's inputs: which daemon, its own bucket, where its files are on this runner. */
export function readPluginDaemonConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): PluginDaemonConfig {
  return parseInputs(
    (p) => {
      const pluginStoragePath = p.storagePath('plugin-storage-path');
      return {
        phase: p.choice('phase', ['move', 'rollback'] as const),
        kube: parseKubeTarget(p),
        daemonName: p.string('plugin-daemon-name', { default: 'dify-plugin-daemon', ...KUBE_NAME }),
        s3: parseS3Target(p, env),
        ...(pluginStoragePath ? { pluginStoragePath } : {}),
        stateDir: p.string('state-dir', { default: DEFAULT_STATE_DIR }),
        rolloutTimeoutSeconds: p.integer('rollout-timeout', {
          default: '600',
          min: 10,
          max: 86_400,
        }),
      };
    },
    read,
    masker,
  );
}

export interface PluginDaemonResult {
  phase: 'move' | 'rollback';
  noop: boolean;
  workload: string;
  /** Per directory: files and bytes copied (to the bucket, or back to disk). */
  copied: { prefix: string; files: number; bytes: number }[];
  recordPath: string;
  message: string;
}

type Located = {
  workload: Workload;
  kind: 'Deployment' | 'StatefulSet';
  storage: PluginDaemonStorage;
};

async function locateDaemon(client: KubeClient, c: PluginDaemonConfig): Promise<Located> {
  const { workloads, configMaps } = await readOtherWorkloads(client, c.kube.namespace, []);
  const workload = workloads.find((w) => w.metadata?.name === c.daemonName);
  const lookup = (kind: 'ConfigMap' | 'Secret', name: string) =>
    kind === 'ConfigMap' ? configMaps[name] : undefined;
  const storage = workload ? pluginDaemonStorage(workload, lookup) : undefined;
  if (!workload || !storage) {
    throw new ConfigurationError(
      `No plugin daemon named ${c.daemonName} in namespace ${c.kube.namespace} (a Deployment or StatefulSet running langgenius/dify-plugin-daemon). Check 'plugin-daemon-name'.`,
    );
  }
  return { workload, kind: workload.kind as Located['kind'], storage };
}

/** The daemon's local root on this runner: the given directory, or its hostPath volume's. */
async function localRoot(c: PluginDaemonConfig, s: PluginDaemonStorage): Promise<string> {
  const base = c.pluginStoragePath
    ? c.pluginStoragePath
    : s.volume?.hostPath
      ? path.join(s.volume.hostPath.path, s.volumeSubPath)
      : undefined;
  if (!base) {
    throw new ConfigurationError(
      `The plugin daemon keeps ${s.root} on ${s.volume ? `volume "${s.volume.name}" (not a hostPath)` : "the container's own file system"}: set 'plugin-storage-path' to where this runner sees that directory.`,
    );
  }
  const st = await stat(base).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new ConfigurationError(
      `The plugin daemon's storage ${base} is not a directory this runner can read: run on the daemon's node or set 'plugin-storage-path'.`,
    );
  }
  return base;
}

const recordFile = (c: PluginDaemonConfig) =>
  path.join(c.stateDir, 'plugin-daemon', `${c.kube.namespace}-${c.daemonName}.json`);

interface MoveRecord {
  movedAt: string;
  bucket: string;
  localRoot: string;
  prefixes: string[];
  replicas: number;
  /** The workload's pod template before the move: what rollback puts back. */
  template: unknown;
}

const baseResult = (c: PluginDaemonConfig, found: Located) => ({
  phase: c.phase,
  workload: `${found.kind}/${c.daemonName}`,
  recordPath: recordFile(c),
});

/** Entry point: the move, or the way back. */
export async function runPluginDaemon(
  c: PluginDaemonConfig,
  log: Logger,
): Promise<PluginDaemonResult> {
  const client = kubeClient(c.kube);
  const found = await locateDaemon(client, c);
  return c.phase === 'move'
    ? moveDaemon(client, c, found, log)
    : rollbackDaemon(client, c, found, log);
}

/** The env that points the daemon at its bucket (keys from a Secret, never inline). */
function s3Env(c: PluginDaemonConfig): Record<string, unknown>[] {
  const fromSecret = (name: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: PLUGIN_DAEMON_SECRET, key: name } },
  });
  return [
    { name: 'PLUGIN_STORAGE_TYPE', value: 'aws_s3' },
    { name: 'PLUGIN_STORAGE_OSS_BUCKET', value: c.s3.bucket },
    // Its IAM mode (the default) would ignore the endpoint and the path style.
    { name: 'S3_USE_AWS_MANAGED_IAM', value: 'false' },
    { name: 'S3_ENDPOINT', value: c.s3.endpoint ?? '' },
    { name: 'S3_USE_PATH_STYLE', value: String(c.s3.forcePathStyle) },
    { name: 'AWS_REGION', value: c.s3.region },
    fromSecret('AWS_ACCESS_KEY'),
    fromSecret('AWS_SECRET_KEY'),
    // Go's crypto/x509 takes extra roots from SSL_CERT_FILE on Linux.
    ...(c.s3.caBundle ? [{ name: 'SSL_CERT_FILE', value: CA_BUNDLE_PATH }] : []),
  ];
}

/** The Secret with the daemon's keys, and the CA ConfigMap when there is a private CA. */
async function ensureDaemonObjects(client: KubeClient, c: PluginDaemonConfig): Promise<void> {
  const ns = c.kube.namespace;
  const creds = c.s3.credentials as S3Credentials; // checked static by runMove
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: PLUGIN_DAEMON_SECRET,
      namespace: ns,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    },
    type: 'Opaque',
    stringData: { AWS_ACCESS_KEY: creds.accessKeyId, AWS_SECRET_KEY: creds.secretAccessKey },
  };
  const secretPath = objectPath('Secret', ns, PLUGIN_DAEMON_SECRET);
  if (await client.getOrNull(secretPath)) await client.replace(secretPath, secret);
  else await client.create(objectPath('Secret', ns), secret);
  if (
    c.s3.caBundle &&
    !(await client.getOrNull(objectPath('ConfigMap', ns, CA_BUNDLE_CONFIGMAP)))
  ) {
    await client.create(
      objectPath('ConfigMap', ns),
      caBundleConfigMap(ns, c.s3.caBundle, { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE }),
    );
  }
}

/** The pod template with the daemon container on S3 (its volume stays: cwd/ is local). */
function templateOnS3(found: Located, c: PluginDaemonConfig): unknown {
  const template = structuredClone(found.workload.spec!.template!) as {
    spec: {
      containers: { name: string; env?: { name: string }[]; volumeMounts?: unknown[] }[];
      volumes?: unknown[];
    };
  };
  const container = template.spec.containers.find((x) => x.name === found.storage.container.name)!;
  const env = s3Env(c);
  const names = new Set(env.map((e) => e.name as string));
  container.env = [
    ...(container.env ?? []).filter((e) => !names.has(e.name)),
    ...(env as { name: string }[]),
  ];
  if (c.s3.caBundle) {
    template.spec.volumes = [
      ...(template.spec.volumes ?? []),
      { name: 'dify-s3-ca-bundle', configMap: { name: CA_BUNDLE_CONFIGMAP } },
    ];
    container.volumeMounts = [
      ...(container.volumeMounts ?? []),
      { name: 'dify-s3-ca-bundle', mountPath: path.posix.dirname(CA_BUNDLE_PATH), readOnly: true },
    ];
  }
  return template;
}

async function setTemplate(
  client: KubeClient,
  c: PluginDaemonConfig,
  found: Located,
  template: unknown,
) {
  await client.updateWithRetry<Workload>(
    objectPath(found.kind, c.kube.namespace, c.daemonName),
    (w) => ({
      ...w,
      spec: { ...w.spec!, template: template as NonNullable<Workload['spec']>['template'] },
    }),
  );
}

async function restart(
  client: KubeClient,
  c: PluginDaemonConfig,
  found: Located,
  replicas: number,
) {
  const ref = { kind: found.kind, name: c.daemonName };
  await scaleWorkload(client, c.kube.namespace, ref, replicas);
  await waitForRollout(client, {
    namespace: c.kube.namespace,
    ...ref,
    timeoutMs: c.rolloutTimeoutSeconds * 1000,
  });
}

async function freeze(client: KubeClient, c: PluginDaemonConfig, found: Located): Promise<number> {
  const r = await scaleToZeroAndWait(client, {
    namespace: c.kube.namespace,
    workloads: [{ kind: found.kind, name: c.daemonName }],
    timeoutMs: c.rolloutTimeoutSeconds * 1000,
  });
  return r.replicas[c.daemonName] ?? 1;
}

/**
 * Stop the daemon, copy its four directories into its bucket (verified per request and against
 * the tree), point it at the bucket, start it again. The local files stay (the way back).
 */
async function moveDaemon(
  client: KubeClient,
  c: PluginDaemonConfig,
  found: Located,
  log: Logger,
): Promise<PluginDaemonResult> {
  const base = baseResult(c, found);
  if (found.storage.type !== 'local') {
    const message = `${base.workload} already stores in ${found.storage.type}: nothing to move`;
    log.info(message);
    return { ...base, noop: true, copied: [], message };
  }
  // The daemon reads AWS_ACCESS_KEY/AWS_SECRET_KEY and has no session-token setting
  // (internal/types/app/config.go:32-34), so it needs static, lasting keys.
  const own = c.s3.credentials;
  if (typeof own === 'function' || own.sessionToken)
    throw new ConfigurationError(
      "The move needs static, lasting S3 credentials ('access-key-id', 'secret-access-key' without a session token).",
    );
  const root = await localRoot(c, found.storage);
  const replicas = found.workload.spec?.replicas ?? 1;
  const record: MoveRecord = {
    movedAt: new Date().toISOString(),
    bucket: c.s3.bucket,
    localRoot: root,
    prefixes: found.storage.prefixes,
    replicas,
    template: found.workload.spec!.template,
  };
  await mkdir(path.dirname(recordFile(c)), { recursive: true, mode: 0o700 });
  await writeJsonAtomic(recordFile(c), record);
  log.info(`Stopping ${base.workload} (${replicas} replica(s)) for the copy`);
  await freeze(client, c, found);
  const copied: PluginDaemonResult['copied'] = [];
  for (const prefix of found.storage.prefixes) {
    const dir = path.join(root, prefix);
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
      copied.push({ prefix, files: 0, bytes: 0 });
      continue;
    }
    const report = await syncToBucket({
      root: dir,
      prefix: `${prefix}/`,
      target: c.s3,
    });
    copied.push({ prefix, files: report.counts.copied, bytes: report.bytes.copied });
    log.info(`${prefix}/: ${report.counts.copied} copied, ${report.counts.skipped} already there`);
  }
  await ensureDaemonObjects(client, c);
  await setTemplate(client, c, found, templateOnS3(found, c));
  await restart(client, c, found, replicas);
  const message = `${base.workload} now stores in bucket ${c.s3.bucket} (${copied.map((x) => `${x.prefix}/ ${x.files} files`).join(', ')}); its local files stay in ${root}`;
  log.info(message);
  return { ...base, noop: false, copied, message };
}

/**
 * Stop the daemon, copy back what it wrote to the bucket since the move (every object of its
 * four prefixes; files the move copied come back identical), put back its pod template, start it.
 */
async function rollbackDaemon(
  client: KubeClient,
  c: PluginDaemonConfig,
  found: Located,
  log: Logger,
): Promise<PluginDaemonResult> {
  const base = baseResult(c, found);
  const raw = await readFile(recordFile(c), 'utf8').catch(() => undefined);
  if (!raw) {
    throw new BlockedError(
      `No record of a plugin daemon move at ${recordFile(c)}: nothing to roll back (was 'state-dir' the one of the move?).`,
    );
  }
  const record = JSON.parse(raw) as MoveRecord;
  if (found.storage.type === 'local') {
    const message = `${base.workload} already stores locally: nothing to roll back`;
    log.info(message);
    return { ...base, noop: true, copied: [], message };
  }
  await freeze(client, c, found);
  const copied: PluginDaemonResult['copied'] = [];
  for (const prefix of record.prefixes) {
    const dir = path.join(record.localRoot, prefix);
    await mkdir(dir, { recursive: true });
    const report = await syncFromBucket({
      root: dir,
      prefix: `${prefix}/`,
      target: { ...c.s3, bucket: record.bucket },
    });
    copied.push({ prefix, files: report.counts.copied, bytes: report.bytes.copied });
  }
  await setTemplate(client, c, found, record.template);
  await restart(client, c, found, record.replicas);
  const message = `${base.workload} stores in ${record.localRoot} again (${copied.map((x) => `${x.prefix}/ ${x.files} copied back`).join(', ')})`;
  log.info(message);
  return { ...base, noop: false, copied, message };
}

/**
 * What Dify's rollback says about a plugin daemon moved by `plugin-daemon --phase move`: it
 * stays on its bucket (it never used Dify's storage, so nothing is lost), and how to bring it
 * back. Undefined when no daemon of the namespace was moved by this tool.
 */
export async function movedPluginDaemonNote(
  client: KubeClient,
  namespace: string,
): Promise<string | undefined> {
  const { workloads, configMaps } = await readOtherWorkloads(client, namespace, []);
  const lookup = (kind: 'ConfigMap' | 'Secret', name: string) =>
    kind === 'ConfigMap' ? configMaps[name] : undefined;
  for (const w of workloads) {
    const s = pluginDaemonStorage(w, lookup);
    const ours = s?.container.env?.some(
      (e) => e.valueFrom?.secretKeyRef?.name === PLUGIN_DAEMON_SECRET,
    );
    if (s?.type !== 'aws_s3' || !ours) continue;
    const bucket = s.container.env?.find((e) => e.name === 'PLUGIN_STORAGE_OSS_BUCKET')?.value;
    return `${w.kind}/${w.metadata?.name} (plugin daemon) stays on its bucket ${bucket ?? '?'}: it does not use Dify's storage, so this rollback leaves it there; 'dify-storage plugin-daemon --phase rollback' brings it back to local storage.`;
  }
  return undefined;
}
