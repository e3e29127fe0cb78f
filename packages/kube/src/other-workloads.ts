/**
 * The namespace's other workloads that touch the storage or its settings (issue 19 §8): the
 * cutover converts and freezes only api and worker, so the plan names every other workload
 * (dify-worker-beat, CronJob-like Deployments, tools) that mounts the same storage - it would
 * keep writing to the old directory during the final delta and after - and every one that reads
 * the ConfigMap the cutover changes, with the keys it will see from then on.
 */
import type { ConfigMapKeyChange } from './configmap.js';
import { looksSecret, REDACTED } from './diff.js';
import type { Finding, InstallInspection } from './inspect.js';
import type { V1Container, Workload } from './types.js';

function containersOf(w: Workload): V1Container[] {
  const spec = w.spec?.template?.spec;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

/** Whether the workload mounts the same storage as the api (same hostPath, claim or NFS export). */
function mountsStorage(
  w: Workload,
  inspection: InstallInspection,
): { what: string; readOnly: boolean } | undefined {
  const api = inspection.api.volumes[0];
  for (const v of w.spec?.template?.spec?.volumes ?? []) {
    let what: string | undefined;
    if (
      v.hostPath &&
      api?.kind === 'hostPath' &&
      v.hostPath.path === inspection.api.storage?.hostPath?.path
    )
      what = `hostPath ${v.hostPath.path}`;
    else if (v.persistentVolumeClaim && v.persistentVolumeClaim.claimName === api?.claim)
      what = `claim "${v.persistentVolumeClaim.claimName}"`;
    else if (v.nfs && api?.nfs && v.nfs.server === api.nfs.server && v.nfs.path === api.nfs.path)
      what = `NFS ${v.nfs.server}:${v.nfs.path}`;
    if (!what) continue;
    const mounts = containersOf(w).flatMap((c) =>
      (c.volumeMounts ?? []).filter((m) => m.name === v.name),
    );
    const readOnly =
      (v.persistentVolumeClaim?.readOnly ?? false) || mounts.every((m) => m.readOnly === true);
    return { what, readOnly };
  }
  return undefined;
}

/** A workload the cutover freezes with api and worker during the final delta (freeze-others.ts). */
export interface StorageWriter {
  kind: 'Deployment' | 'StatefulSet' | 'CronJob';
  name: string;
}

/** The other workloads that mount the storage writable: they are frozen for the final delta. */
export function otherStorageWriters(inspection: InstallInspection): StorageWriter[] {
  return inspection.others.workloads.flatMap((w) => {
    const kind = w.kind as StorageWriter['kind'];
    const mount = mountsStorage(w, inspection);
    return mount && !mount.readOnly ? [{ kind, name: w.metadata?.name ?? '' }] : [];
  });
}

function readsConfigMap(w: Workload, name: string): boolean {
  return containersOf(w).some(
    (c) =>
      (c.envFrom ?? []).some((e) => e.configMapRef?.name === name) ||
      (c.env ?? []).some((e) => e.valueFrom?.configMapKeyRef?.name === name),
  );
}

function shownChange(c: ConfigMapKeyChange): string {
  if (c.change === 'removed') return `${c.key} removed`;
  return `${c.key}=${looksSecret(c.key) ? REDACTED : c.after}`;
}

/** Findings for the other workloads: storage writers the cutover does not freeze, readers of the changed ConfigMap. */
export function otherWorkloadFindings(
  inspection: InstallInspection,
  configMap: { name: string; changes: ConfigMapKeyChange[] } | undefined,
): Finding[] {
  const out: Finding[] = [];
  for (const w of inspection.others.workloads) {
    const ref = `${w.kind}/${w.metadata?.name}`;
    const storage = mountsStorage(w, inspection);
    const frozen =
      w.kind === 'CronJob'
        ? 'suspended (and its running Jobs waited for) during the final delta, then resumed'
        : `scaled to 0 during the final delta, then given back its ${w.spec?.replicas ?? 1} replica(s)`;
    if (storage && !storage.readOnly) {
      out.push({
        code: 'other-storage-writer',
        severity: 'warning',
        message: `${ref} mounts the storage (${storage.what}) writable and is not converted: the cutover freezes it with api and worker - ${frozen}. Files it writes after the cutover stay in the old directory, not in the bucket: convert it by hand, or scale it down for good if Dify's files are all it writes.`,
      });
    } else if (storage) {
      out.push({
        code: 'other-storage-reader',
        severity: 'info',
        message: `${ref} mounts the storage (${storage.what}) read-only: not frozen; after the cutover it reads a directory Dify no longer writes.`,
      });
    }
    if (configMap && configMap.changes.length && readsConfigMap(w, configMap.name)) {
      out.push({
        code: 'other-configmap-reader',
        severity: 'warning',
        message: `${ref} reads ConfigMap "${configMap.name}" and is not converted: after its next restart it sees ${configMap.changes.map(shownChange).join(', ')}, without the S3 credentials (they are in the Secret the converted workloads reference).`,
      });
    }
  }
  return out;
}
