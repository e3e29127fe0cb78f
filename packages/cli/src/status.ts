import { readdir } from 'node:fs/promises';
import {
  KubeInputs,
  parseInputs,
  parseKubeTarget,
  type InputReader,
} from '@dify-storage/action-kit';
import { formatBytes, listBackups } from '@dify-storage/backup';
import {
  DEFAULT_LOCK_NAME,
  objectPath,
  rolloutStatus,
  type ConfigMap,
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

/** A read-only look at the install: what each workload is, its storage, the lock, the backups. */
export async function runStatus(
  config: StatusConfig,
): Promise<{ namespace: string; lines: string[] }> {
  const client = kubeClient(config.kube);
  const ns = config.kube.namespace;
  const lines: string[] = [`namespace ${ns}`];
  const configMaps = new Set<string>();
  for (const name of [config.apiName, config.workerName]) {
    for (const kind of ['StatefulSet', 'Deployment'] as const) {
      const w = await client.getOrNull<Workload>(objectPath(kind, ns, name));
      if (!w) continue;
      const r = rolloutStatus(w);
      const volumes = w.spec?.template?.spec?.volumes ?? [];
      const hostPath = volumes.find((v) => v.hostPath)?.hostPath?.path;
      lines.push(
        `  ${kind} ${name}: ${w.spec?.replicas ?? 1} replica(s), ${r.error ?? r.message}${hostPath ? `; hostPath ${hostPath}` : ''}`,
      );
      for (const c of w.spec?.template?.spec?.containers ?? []) {
        for (const f of c.envFrom ?? [])
          if (f.configMapRef?.name) configMaps.add(f.configMapRef.name);
        for (const e of c.env ?? [])
          if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
      }
    }
  }
  for (const name of configMaps) {
    const cm = await client.getOrNull<ConfigMap>(objectPath('ConfigMap', ns, name));
    const d = cm?.data ?? {};
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
  return { namespace: ns, lines };
}
