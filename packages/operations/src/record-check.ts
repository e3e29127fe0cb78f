import { BlockedError, ConfigurationError } from '@dify-storage/action-kit';
import type { InstallInspection } from '@dify-storage/kube';

interface ObjectRef {
  kind: string;
  name: string;
}

/**
 * What a backup's Kubernetes snapshot lacks to restore the install: the api and the worker
 * workloads (StatefulSet or Deployment) and a ConfigMap holding the storage settings. Rollback
 * from a snapshot without them would leave a mixed cluster.
 */
export function snapshotGaps(objects: ObjectRef[], apiName: string, workerName: string): string[] {
  const has = (kind: string, name: string) =>
    objects.some((o) => o.kind === kind && o.name === name);
  const gaps: string[] = [];
  for (const name of [apiName, workerName]) {
    if (!has('StatefulSet', name) && !has('Deployment', name)) gaps.push(`the workload ${name}`);
  }
  if (!objects.some((o) => o.kind === 'ConfigMap')) gaps.push('the storage ConfigMap');
  return gaps;
}

/** Every workload the operator named must exist: a typo must not pass as "nothing to do". */
export function requireNamedWorkloads(inspection: InstallInspection): void {
  const missing = [inspection.api, inspection.worker].filter((w) => w.state === 'missing');
  if (missing.length === 0) return;
  throw new ConfigurationError(
    `${missing.map((w) => `'${w.name}' (${w.role === 'api' ? 'api-name' : 'worker-name'})`).join(' and ')} ` +
      `${missing.length > 1 ? 'are' : 'is'} neither a StatefulSet nor a Deployment in namespace ${inspection.namespace}; check the name.`,
  );
}

/** Refuses a snapshot that could not restore the install (see snapshotGaps). */
export function requireCompleteSnapshot(
  what: string,
  objects: ObjectRef[],
  apiName: string,
  workerName: string,
): void {
  const gaps = snapshotGaps(objects, apiName, workerName);
  if (gaps.length === 0) return;
  throw new BlockedError(
    `${what} lacks ${gaps.join(', ')}: it could not restore the install, so it is not a complete backup.`,
  );
}
