import { readdir } from 'node:fs/promises';
import {
  ConfigurationError,
  KubeInputs,
  parseInputs,
  parseKubeTarget,
  type InputReader,
} from '@dify-storage/action-kit';
import { listBackups } from '@dify-storage/backup';
import { formatBytes } from '@dify-storage/common';
import {
  DEFAULT_LOCK_NAME,
  describeEnvSource,
  effectiveEnv,
  EnvObjects,
  KubeApiError,
  objectPath,
  rolloutStatus,
  type KubeClient,
  type KubeObject,
  type Workload,
} from '@dify-storage/kube';
import { kubeClient } from '@dify-storage/operations';
import { actionInputs, type Flag } from './flags.js';

/** status has no action: its flags are declared here (the cluster ones as the actions say). */
export const STATUS_FLAGS: Flag[] = [
  ...actionInputs('backup-hostpath').filter((f) =>
    (Object.values(KubeInputs) as string[]).includes(f.name),
  ),
  {
    name: 'api-name',
    description: 'Name of the dify-api StatefulSet (or Deployment after the cutover).',
    default: 'dify-api',
  },
  {
    name: 'worker-name',
    description: 'Name of the dify-worker StatefulSet (or Deployment after the cutover).',
    default: 'dify-worker',
  },
  {
    name: 'backup-dir',
    description:
      'Directory on the node that keeps backups; when given, lists them and any rollback state.',
  },
];

export type StatusConfig = ReturnType<typeof readStatusConfig>;

export function readStatusConfig(read: InputReader) {
  return parseInputs(
    (p) => ({
      kube: parseKubeTarget(p),
      apiName: p.string('api-name', { default: 'dify-api' }),
      workerName: p.string('worker-name', { default: 'dify-worker' }),
      backupDir: p.optional('backup-dir'),
    }),
    read,
    () => undefined,
  );
}

export interface StatusResult {
  namespace: string;
  lines: string[];
  /** A mixed install: one workload converted and not the other, settings that do not fit them. */
  mixed: string[];
}

/** What each workload is, in the words of the mixed-state warnings. */
type Shape = 'StatefulSet' | 'Deployment' | 'both';

/** A container's effective STORAGE_TYPE (kube's env precedence) and where it comes from. */
interface StorageSetting {
  container: string;
  value: string;
  from: string;
}

/** The mixed states a half-done cutover or rollback leaves (each is a reason to exit 3). */
function mixedStates(
  shapes: Map<string, Shape>,
  storageTypes: StorageSetting[],
  missingSecrets: string[],
): string[] {
  const mixed: string[] = [];
  for (const [name, shape] of shapes) {
    if (shape === 'both') mixed.push(`${name} is both a StatefulSet and a Deployment`);
  }
  const kinds = new Set(shapes.values());
  if (kinds.has('StatefulSet') && kinds.has('Deployment')) {
    mixed.push(
      `one workload is converted and the other not (${[...shapes].map(([n, s]) => `${n}: ${s}`).join(', ')})`,
    );
  }
  const onS3 = kinds.size === 1 && kinds.has('Deployment');
  const onHostPath = kinds.size === 1 && kinds.has('StatefulSet');
  for (const { container, value, from } of storageTypes) {
    if (onS3 && value !== 's3')
      mixed.push(
        `the workloads are Deployments on S3 but ${container} gets STORAGE_TYPE=${value} from ${from}`,
      );
    if (onHostPath && value === 's3')
      mixed.push(
        `the workloads are hostPath StatefulSets but ${container} gets STORAGE_TYPE=s3 from ${from}`,
      );
  }
  for (const s of missingSecrets)
    mixed.push(`the workloads read Secret ${s}, which does not exist`);
  return mixed;
}

/** A missing namespace is named as such (a Role scoped to it may not read it: then it is assumed). */
async function requireNamespace(client: KubeClient, ns: string): Promise<void> {
  try {
    if (await client.getOrNull(`/api/v1/namespaces/${encodeURIComponent(ns)}`)) return;
  } catch (error) {
    if (error instanceof KubeApiError && error.code === 403) return;
    throw error;
  }
  throw new ConfigurationError(
    `Namespace ${ns} does not exist in this cluster; check --namespace.`,
  );
}

function workloadLine(kind: string, name: string, w: Workload): string {
  const r = rolloutStatus(w);
  const volumes = w.spec?.template?.spec?.volumes ?? [];
  const hostPath = volumes.find((v) => v.hostPath)?.hostPath?.path;
  return `  ${kind} ${name}: ${w.spec?.replicas ?? 1} replica(s), ${r.error ?? r.message}${hostPath ? `; hostPath ${hostPath}` : ''}`;
}

/** A read-only look at the install: what each workload is, its storage, the lock, the backups. */
export async function runStatus(config: StatusConfig): Promise<StatusResult> {
  const client = kubeClient(config.kube);
  const ns = config.kube.namespace;
  const lines: string[] = [`namespace ${ns}`];
  const objects = new EnvObjects(client, ns);
  const storageTypes: StorageSetting[] = [];
  const shapes = new Map<string, Shape>();
  for (const name of [config.apiName, config.workerName]) {
    for (const kind of ['StatefulSet', 'Deployment'] as const) {
      const w = await client.getOrNull<Workload>(objectPath(kind, ns, name));
      if (!w) continue;
      shapes.set(name, shapes.has(name) ? 'both' : kind);
      lines.push(workloadLine(kind, name, w));
      for (const c of w.spec?.template?.spec?.containers ?? []) {
        await objects.load(c);
        const set = effectiveEnv(c, objects.lookup).get('STORAGE_TYPE');
        if (set?.value !== undefined) {
          const from = describeEnvSource(set.source);
          storageTypes.push({ container: `${kind} ${name}/${c.name}`, value: set.value, from });
        }
      }
    }
    if (!shapes.has(name)) {
      await requireNamespace(client, ns);
      throw new ConfigurationError(
        `${name} is neither a StatefulSet nor a Deployment in namespace ${ns}; check --api-name and --worker-name.`,
      );
    }
  }
  for (const [name, data] of objects.read('ConfigMap')) {
    const d = data ?? {};
    lines.push(
      `  ConfigMap ${name}: STORAGE_TYPE=${d.STORAGE_TYPE ?? '(unset)'}${d.S3_BUCKET_NAME ? `, bucket ${d.S3_BUCKET_NAME} at ${d.S3_ENDPOINT ?? 'AWS'}` : ''}${d.OPENDAL_SCHEME ? `, OPENDAL_SCHEME=${d.OPENDAL_SCHEME}` : ''}`,
    );
  }
  const lease = await client.getOrNull<
    KubeObject & {
      spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
    }
  >(objectPath('Lease', ns, DEFAULT_LOCK_NAME));
  lines.push(
    lease?.spec?.holderIdentity
      ? `  lock held by ${lease.spec.holderIdentity} (renewed ${lease.spec.renewTime}, lasts ${lease.spec.leaseDurationSeconds} s)`
      : '  lock free',
  );
  if (config.backupDir) {
    const listing = await listBackups(config.backupDir);
    lines.push(`backups in ${config.backupDir}:`);
    for (const r of listing.complete.slice(0, 10)) {
      lines.push(
        `  ${r.id}  ${r.createdAt}  ${r.namespace ?? ''}  ${r.counts.files} files, ${formatBytes(r.counts.dataBytes)}`,
      );
    }
    for (const b of listing.incomplete) lines.push(`  ${b.id}  INCOMPLETE: ${b.reason}`);
    const rollbacks = (await readdir(config.backupDir)).filter(
      (f) => /^rollback-.+\.json$/.test(f) && !f.endsWith('-copied-back.json'),
    );
    for (const f of rollbacks) lines.push(`  rollback state: ${f}`);
  }
  const missingSecrets = objects
    .read('Secret')
    .filter(([, data]) => data === undefined)
    .map(([name]) => name);
  const mixed = mixedStates(shapes, storageTypes, missingSecrets);
  for (const m of mixed) lines.push(`MIXED: ${m}`);
  return { namespace: ns, lines, mixed };
}
