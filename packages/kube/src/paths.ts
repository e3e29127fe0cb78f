/** REST locations of the kinds this library touches (no discovery round trips needed). */
export type KindName =
  | 'StatefulSet'
  | 'Deployment'
  | 'ReplicaSet'
  | 'ConfigMap'
  | 'Secret'
  | 'Service'
  | 'Pod'
  | 'PersistentVolumeClaim'
  | 'CronJob'
  | 'Lease';

interface KindInfo {
  apiVersion: string;
  plural: string;
  /** How the server names the resource in messages, e.g. `statefulsets.apps`. */
  resource: string;
}

export const KINDS: Record<KindName, KindInfo> = {
  StatefulSet: { apiVersion: 'apps/v1', plural: 'statefulsets', resource: 'statefulsets.apps' },
  Deployment: { apiVersion: 'apps/v1', plural: 'deployments', resource: 'deployments.apps' },
  ReplicaSet: { apiVersion: 'apps/v1', plural: 'replicasets', resource: 'replicasets.apps' },
  ConfigMap: { apiVersion: 'v1', plural: 'configmaps', resource: 'configmaps' },
  Secret: { apiVersion: 'v1', plural: 'secrets', resource: 'secrets' },
  Service: { apiVersion: 'v1', plural: 'services', resource: 'services' },
  Pod: { apiVersion: 'v1', plural: 'pods', resource: 'pods' },
  PersistentVolumeClaim: {
    apiVersion: 'v1',
    plural: 'persistentvolumeclaims',
    resource: 'persistentvolumeclaims',
  },
  CronJob: { apiVersion: 'batch/v1', plural: 'cronjobs', resource: 'cronjobs.batch' },
  Lease: {
    apiVersion: 'coordination.k8s.io/v1',
    plural: 'leases',
    resource: 'leases.coordination.k8s.io',
  },
};

export function isKindName(kind: string | undefined): kind is KindName {
  return kind !== undefined && Object.prototype.hasOwnProperty.call(KINDS, kind);
}

export function objectPath(
  kind: KindName,
  namespace: string,
  name?: string,
  subresource?: 'scale' | 'status',
): string {
  const { apiVersion, plural } = KINDS[kind];
  const base = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
  let path = `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

/** A PersistentVolume (cluster-scoped). */
export function persistentVolumePath(name: string): string {
  return `/api/v1/persistentvolumes/${encodeURIComponent(name)}`;
}

/** `kind/name` as kubectl prints it, for messages and journals. */
export function describeRef(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/** Turns `{app: 'dify-api'}` into the labelSelector query `app=dify-api`. */
export function labelSelectorString(matchLabels: Record<string, string> | undefined): string {
  return Object.entries(matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
