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
function mountsStorage(w: Workload, inspection: InstallInspection): string | undefined {
  const api = inspection.api.volumes[0];
  for (const v of w.spec?.template?.spec?.volumes ?? []) {
    if (
      v.hostPath &&
      api?.kind === 'hostPath' &&
      v.hostPath.path === inspection.api.storage?.hostPath?.path
    )
      return `hostPath ${v.hostPath.path}`;
    if (v.persistentVolumeClaim && v.persistentVolumeClaim.claimName === api?.claim)
      return `claim "${v.persistentVolumeClaim.claimName}"`;
    if (v.nfs && api?.nfs && v.nfs.server === api.nfs.server && v.nfs.path === api.nfs.path)
      return `NFS ${v.nfs.server}:${v.nfs.path}`;
  }
  return undefined;
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
    if (storage) {
      out.push({
        code: 'other-storage-writer',
        severity: 'warning',
        message: `${ref} mounts the storage (${storage}) but is not converted or frozen by the cutover: files it writes during the final delta or afterwards stay in the old directory. Scale it to zero before approving, or convert it by hand.`,
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
