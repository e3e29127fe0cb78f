/** The resource types the fake API server serves, with what discovery and the handlers need. */
export interface ResourceType {
  group: string; // '' for core
  version: string;
  resource: string; // plural, as in the URL
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  /** Subresources served: 'status', 'scale', 'log' (pods). */
  subresources: string[];
  /** metadata.generation maintained (apps kinds). */
  generation: boolean;
  /** DELETE answers with the object instead of a Status (pods, services), as the real registries do. */
  returnDeletedObject: boolean;
  /** Name format the real validation enforces. */
  nameFormat: 'subdomain' | 'label' | 'dns1035';
  /** The client-node model class name used for unknown-field detection. */
  model: string;
}

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const RESOURCE_VERBS = verbs;

function rt(r: Partial<ResourceType> & Pick<ResourceType, 'resource' | 'kind'>): ResourceType {
  return {
    group: '',
    version: 'v1',
    singular: r.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    subresources: [],
    generation: false,
    returnDeletedObject: false,
    nameFormat: 'subdomain',
    model: `V1${r.kind}`,
    ...r,
  };
}

export const RESOURCES: ResourceType[] = [
  rt({
    resource: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    nameFormat: 'label',
  }),
  rt({ resource: 'configmaps', kind: 'ConfigMap', shortNames: ['cm'] }),
  rt({ resource: 'secrets', kind: 'Secret' }),
  rt({
    resource: 'services',
    kind: 'Service',
    shortNames: ['svc'],
    subresources: ['status'],
    returnDeletedObject: true,
    nameFormat: 'dns1035',
  }),
  rt({ resource: 'events', kind: 'Event', shortNames: ['ev'], model: 'CoreV1Event' }),
  rt({
    resource: 'pods',
    kind: 'Pod',
    shortNames: ['po'],
    subresources: ['status', 'log'],
    returnDeletedObject: true,
  }),
  rt({
    group: 'apps',
    resource: 'statefulsets',
    kind: 'StatefulSet',
    shortNames: ['sts'],
    subresources: ['status', 'scale'],
    generation: true,
  }),
  rt({
    group: 'apps',
    resource: 'deployments',
    kind: 'Deployment',
    shortNames: ['deploy'],
    subresources: ['status', 'scale'],
    generation: true,
  }),
  rt({
    group: 'apps',
    resource: 'replicasets',
    kind: 'ReplicaSet',
    shortNames: ['rs'],
    subresources: ['status', 'scale'],
    generation: true,
  }),
  rt({ group: 'coordination.k8s.io', resource: 'leases', kind: 'Lease' }),
  // No controller runs them: a CronJob here never starts a Job (status.active stays empty).
  rt({
    group: 'batch',
    resource: 'cronjobs',
    kind: 'CronJob',
    shortNames: ['cj'],
    subresources: ['status'],
    generation: true,
  }),
  rt({
    resource: 'persistentvolumes',
    kind: 'PersistentVolume',
    namespaced: false,
    shortNames: ['pv'],
    subresources: ['status'],
  }),
  rt({
    resource: 'persistentvolumeclaims',
    kind: 'PersistentVolumeClaim',
    shortNames: ['pvc'],
    subresources: ['status'],
  }),
  rt({
    group: 'storage.k8s.io',
    resource: 'storageclasses',
    kind: 'StorageClass',
    namespaced: false,
    shortNames: ['sc'],
  }),
];

export function apiVersionOf(r: ResourceType): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** `deployments.apps` / `pods`: the key used by the store and in error messages. */
export function qualifiedName(r: ResourceType): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

export function findResource(
  group: string,
  version: string,
  resource: string,
): ResourceType | undefined {
  return RESOURCES.find(
    (r) => r.group === group && r.version === version && r.resource === resource,
  );
}

/** Accepts 'deployments.apps', 'deployments', 'Deployment', 'deploy'. */
export function resolveResource(ref: string): ResourceType {
  const lower = ref.toLowerCase();
  const found =
    RESOURCES.find((r) => qualifiedName(r) === lower) ??
    RESOURCES.find(
      (r) => r.resource === lower || r.kind.toLowerCase() === lower || r.shortNames.includes(lower),
    );
  if (!found) {
    throw new Error(`unknown resource "${ref}"; known: ${RESOURCES.map(qualifiedName).join(', ')}`);
  }
  return found;
}
