/**
 * The fixture cluster, shaped like the runbook's install (Winson-030/dify-kubernetes): namespace
 * `dify`, StatefulSets `dify-api` and `dify-worker` pinned to one node with the hostPath
 * /root/dify/app/api/storage at /app/api/storage, ConfigMap `dify-shared-config` with the
 * opendal settings, and Services selecting the pods.
 */
export const NAMESPACE = 'dify';
export const HOST_PATH = '/root/dify/app/api/storage';
export const MOUNT_PATH = '/app/api/storage';
export const CONFIG_MAP = 'dify-shared-config';

/**
 * Install shapes of issue 19, written from its description:
 * - `hostpath`: the runbook's (pinned StatefulSets, hostPath, one ConfigMap);
 * - `local-pv` (1): unpinned StatefulSets on a claim bound to a `local` PV with node affinity;
 * - `nfs-subpath` (2): an RWX claim on an NFS PV, mounted with `subPath`;
 * - `claim-templates` (4): the api's storage from volumeClaimTemplates (a static local PV for
 *   ordinal 0), the worker mounting that same claim;
 * - `settings-configmaps` (5): storage settings in a second ConfigMap loaded after the shared
 *   one, and STORAGE_TYPE set inline in `env`;
 * - `settings-secret` (5): the storage settings in a Secret, read by the api through
 *   `envFrom.secretRef` (after the shared ConfigMap) and by the worker through `valueFrom.secretKeyRef`;
 *   the Secret also holds a value that is not a storage setting (it must come back exactly);
 * - `rwo-per-workload` (3): api and worker each on their own RWO claim, bound to two local PVs
 *   on the node (each sees different files);
 * - `claim-ordinals` (4): like `claim-templates` with two api replicas, each ordinal's claim bound
 *   (by the PV's claimRef) to a local PV of its own on the node: ordinal 1 keeps its own files;
 * - `kustomize-prefix` (10): the runbook's shape as a kustomize overlay with `namePrefix: prod-` and
 *   `commonLabels` renders it (every object renamed, references too; labels gain the instance),
 *   plus a second Service selecting the api;
 * - `other-workloads` (8): the runbook's shape plus an init container mounting the storage,
 *   `dify-worker-beat` reading the ConfigMap, and the plugin daemon on its own hostPath.
 */
export type InstallShape =
  | 'hostpath'
  | 'local-pv'
  | 'nfs-subpath'
  | 'claim-templates'
  | 'settings-configmaps'
  | 'settings-secret'
  | 'kustomize-prefix'
  | 'rwo-per-workload'
  | 'claim-ordinals'
  | 'other-workloads';

export const LOCAL_PV_PATH = '/mnt/disks/dify';
/** The worker's own local PV of shape 3. */
export const WORKER_PV_PATH = '/mnt/disks/dify-worker';
/** The local PV of api ordinal 1 (shape `claim-ordinals`). */
export const ORDINAL_1_PV_PATH = '/mnt/disks/dify-1';
export const NFS_SERVER = 'nfs.dify.internal';
export const NFS_EXPORT = '/exports/dify';
export const NFS_SUBPATH = 'app/api/storage';
export const STORAGE_CONFIG_MAP = 'dify-storage-config';
export const SETTINGS_SECRET = 'dify-storage-secret';
/** A value of the settings Secret that is no storage setting: it never leaves the node. */
export const SETTINGS_SECRET_CANARY = 'shape5-canary-init-password-7f3a';
const CLAIM = 'dify-storage';

/** Where the storage directory is, relative to a node's directory or to the NFS root. */
export function storageLocation(shape: InstallShape): { on: 'node' | 'nfs'; path: string } {
  switch (shape) {
    case 'local-pv':
    case 'claim-templates':
    case 'claim-ordinals':
    case 'rwo-per-workload':
      return { on: 'node', path: LOCAL_PV_PATH };
    case 'nfs-subpath':
      return { on: 'nfs', path: `${NFS_SERVER}${NFS_EXPORT}/${NFS_SUBPATH}` };
    default:
      return { on: 'node', path: HOST_PATH };
  }
}

const OPENDAL_SETTINGS = {
  STORAGE_TYPE: 'opendal',
  OPENDAL_SCHEME: 'fs',
  OPENDAL_FS_ROOT: 'storage',
  STORAGE_LOCAL_PATH: MOUNT_PATH,
};

function statefulSet(
  name: string,
  mode: 'api' | 'worker',
  node: string,
  shape: InstallShape,
): Record<string, unknown> {
  const storage = storageVolume(name, shape);
  const envFrom: Record<string, unknown>[] = [{ configMapRef: { name: CONFIG_MAP } }];
  if (shape === 'settings-configmaps') envFrom.push({ configMapRef: { name: STORAGE_CONFIG_MAP } });
  const env: Record<string, unknown>[] = [{ name: 'MODE', value: mode }];
  if (shape === 'settings-configmaps') env.push({ name: 'STORAGE_TYPE', value: 'opendal' });
  if (shape === 'settings-secret' && mode === 'api')
    envFrom.push({ secretRef: { name: SETTINGS_SECRET } });
  if (shape === 'settings-secret' && mode === 'worker') {
    for (const key of ['STORAGE_TYPE', 'OPENDAL_SCHEME', 'OPENDAL_FS_ROOT'])
      env.push({ name: key, valueFrom: { secretKeyRef: { name: SETTINGS_SECRET, key } } });
  }
  const unpinned = [
    'local-pv',
    'nfs-subpath',
    'claim-templates',
    'claim-ordinals',
    'rwo-per-workload',
  ].includes(shape);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: NAMESPACE, labels: { app: name } },
    spec: {
      serviceName: name,
      replicas: shape === 'claim-ordinals' && mode === 'api' ? 2 : 1,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...(unpinned ? {} : { nodeSelector: { 'kubernetes.io/hostname': node } }),
          ...(shape === 'other-workloads' && mode === 'api'
            ? {
                initContainers: [
                  {
                    name: 'fix-permissions',
                    image: 'busybox:1.36',
                    volumeMounts: [{ name: 'dify-api-storage', mountPath: MOUNT_PATH }],
                  },
                ],
              }
            : {}),
          containers: [
            {
              name,
              image: 'langgenius/dify-api:1.3.0',
              env,
              envFrom,
              ...(mode === 'api' ? { ports: [{ containerPort: 5001, name: 'http' }] } : {}),
              volumeMounts: [
                {
                  name: 'dify-api-storage',
                  mountPath: MOUNT_PATH,
                  ...(shape === 'nfs-subpath' ? { subPath: NFS_SUBPATH } : {}),
                },
              ],
            },
          ],
          ...(storage.volume ? { volumes: [storage.volume] } : {}),
        },
      },
      ...(storage.claimTemplate ? { volumeClaimTemplates: [storage.claimTemplate] } : {}),
    },
  };
}

/** The pod volume (or claim template) behind the storage mount, per shape. */
function storageVolume(
  name: string,
  shape: InstallShape,
): { volume?: Record<string, unknown>; claimTemplate?: Record<string, unknown> } {
  const claim = (claimName: string) => ({
    volume: { name: 'dify-api-storage', persistentVolumeClaim: { claimName } },
  });
  switch (shape) {
    case 'local-pv':
    case 'nfs-subpath':
      return claim(CLAIM);
    case 'rwo-per-workload':
      return claim(name === 'dify-api' ? CLAIM : `${name}-storage`);
    case 'claim-templates':
    case 'claim-ordinals':
      return name === 'dify-api'
        ? {
            claimTemplate: {
              metadata: { name: 'dify-api-storage' },
              spec: claimSpec('local-storage', 'ReadWriteOnce'),
            },
          }
        : claim('dify-api-storage-dify-api-0');
    default:
      return {
        volume: {
          name: 'dify-api-storage',
          hostPath: { path: HOST_PATH, type: 'DirectoryOrCreate' },
        },
      };
  }
}

function claimSpec(storageClassName: string, mode: string): Record<string, unknown> {
  return { storageClassName, accessModes: [mode], resources: { requests: { storage: '20Gi' } } };
}

/** A Deployment of the `other-workloads` shape. */
function deployment(
  name: string,
  container: Record<string, unknown>,
  volumes: Record<string, unknown>[] = [],
): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, ...container }], ...(volumes.length ? { volumes } : {}) },
      },
    },
  };
}

/** A CronJob whose Job pods mount the storage (writable or read-only) and read the ConfigMap. */
function cronJob(name: string, readOnly: boolean): Record<string, unknown> {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      schedule: '17 3 * * 0',
      jobTemplate: {
        spec: {
          template: {
            spec: {
              restartPolicy: 'OnFailure',
              containers: [
                {
                  name,
                  image: 'busybox:1.36',
                  envFrom: [{ configMapRef: { name: CONFIG_MAP } }],
                  volumeMounts: [{ name: 'storage', mountPath: '/data', readOnly }],
                },
              ],
              volumes: [{ name: 'storage', hostPath: { path: HOST_PATH } }],
            },
          },
        },
      },
    },
  };
}

/**
 * dify-worker-beat (reads the ConfigMap), the plugin daemon (own storage at /app/storage), a
 * tool Deployment and a CronJob that write the storage (frozen for the final delta), and a
 * CronJob that only reads it.
 */
function otherWorkloads(): Record<string, unknown>[] {
  return [
    deployment(
      'dify-storage-tool',
      {
        image: 'busybox:1.36',
        volumeMounts: [{ name: 'storage', mountPath: '/data' }],
      },
      [{ name: 'storage', hostPath: { path: HOST_PATH, type: 'DirectoryOrCreate' } }],
    ),
    cronJob('dify-storage-cleanup', false),
    cronJob('dify-storage-report', true),
    deployment('dify-worker-beat', {
      image: 'langgenius/dify-api:1.3.0',
      env: [{ name: 'MODE', value: 'beat' }],
      envFrom: [{ configMapRef: { name: CONFIG_MAP } }],
    }),
    deployment(
      'dify-plugin-daemon',
      {
        image: 'langgenius/dify-plugin-daemon:0.0.9-local',
        env: [
          { name: 'PLUGIN_STORAGE_TYPE', value: 'local' },
          { name: 'PLUGIN_STORAGE_LOCAL_ROOT', value: '/app/storage' },
        ],
        volumeMounts: [{ name: 'plugin-storage', mountPath: '/app/storage' }],
      },
      [
        {
          name: 'plugin-storage',
          hostPath: { path: '/root/dify/plugin', type: 'DirectoryOrCreate' },
        },
      ],
    ),
  ];
}

function storageClass(): Record<string, unknown> {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'local-storage' },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'WaitForFirstConsumer',
  };
}

/** StorageClass, PersistentVolume and claim of the PV-backed shapes. */
function volumeObjects(shape: InstallShape, node: string): Record<string, unknown>[] {
  if (shape === 'hostpath' || shape === 'settings-configmaps') return [];
  const pv = (
    source: Record<string, unknown>,
    className: string,
    mode: string,
    name = `dify-storage-${shape}`,
  ) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: {
      capacity: { storage: '100Gi' },
      accessModes: [mode],
      storageClassName: className,
      persistentVolumeReclaimPolicy: 'Retain',
      ...source,
    },
  });
  const claim = (className: string, mode: string, name = CLAIM, volumeName?: string) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NAMESPACE },
    spec: { ...claimSpec(className, mode), ...(volumeName ? { volumeName } : {}) },
  });
  if (shape === 'nfs-subpath') {
    return [
      pv({ nfs: { server: NFS_SERVER, path: NFS_EXPORT } }, '', 'ReadWriteMany'),
      claim('', 'ReadWriteMany'),
    ];
  }
  const localPv = (path: string, name?: string, claimRef?: string) => {
    const made = pv(
      {
        local: { path },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: [node] },
                ],
              },
            ],
          },
        },
      },
      'local-storage',
      'ReadWriteOnce',
      name,
    );
    // Reserved for one claim (the binder honours a claimRef without uid), as an admin would.
    if (claimRef) Object.assign(made.spec, { claimRef: { namespace: NAMESPACE, name: claimRef } });
    return made;
  };
  if (shape === 'claim-ordinals') {
    return [
      storageClass(),
      localPv(LOCAL_PV_PATH, 'dify-api-0-pv', 'dify-api-storage-dify-api-0'),
      localPv(ORDINAL_1_PV_PATH, 'dify-api-1-pv', 'dify-api-storage-dify-api-1'),
    ];
  }
  if (shape === 'rwo-per-workload') {
    return [
      storageClass(),
      localPv(LOCAL_PV_PATH, 'dify-api-pv'),
      localPv(WORKER_PV_PATH, 'dify-worker-pv'),
      claim('local-storage', 'ReadWriteOnce', CLAIM, 'dify-api-pv'),
      claim('local-storage', 'ReadWriteOnce', 'dify-worker-storage', 'dify-worker-pv'),
    ];
  }
  const local = localPv(LOCAL_PV_PATH);
  return [
    storageClass(),
    local,
    ...(shape === 'local-pv' ? [claim('local-storage', 'ReadWriteOnce')] : []),
  ];
}

/** The settings Secret of shape 5. */
function settingsSecret(): Record<string, unknown> {
  const data = { ...OPENDAL_SETTINGS, INIT_PASSWORD: SETTINGS_SECRET_CANARY };
  const wrap = (v: string) => Buffer.from(v).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: SETTINGS_SECRET, namespace: NAMESPACE },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, wrap(v)])),
  };
}

export const KUSTOMIZE_PREFIX = 'prod-';
const INSTANCE_LABEL = { 'app.kubernetes.io/instance': 'prod' };

/**
 * What `kustomize build` makes of the objects with `namePrefix` and `commonLabels`: names and the
 * references to them (envFrom, serviceName) prefixed, the labels added to metadata, selectors
 * and pod templates. Container, volume and label values stay as they were.
 */
function kustomize(objects: Record<string, unknown>[]): Record<string, unknown>[] {
  type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const named = new Set(objects.map((x) => (x as Obj).metadata.name as string));
  const renamed = (name: string) => (named.has(name) ? `${KUSTOMIZE_PREFIX}${name}` : name);
  return objects.map((original) => {
    const o = structuredClone(original) as Obj;
    if (o.kind === 'Namespace') return o;
    o.metadata.name = renamed(o.metadata.name);
    o.metadata.labels = { ...o.metadata.labels, ...INSTANCE_LABEL };
    const spec = o.spec as Obj | undefined;
    if (o.kind === 'Service') spec!.selector = { ...spec!.selector, ...INSTANCE_LABEL };
    if (spec?.template) {
      spec.selector.matchLabels = { ...spec.selector.matchLabels, ...INSTANCE_LABEL };
      spec.template.metadata.labels = { ...spec.template.metadata.labels, ...INSTANCE_LABEL };
      if (spec.serviceName) spec.serviceName = renamed(spec.serviceName);
      for (const c of spec.template.spec.containers as Obj[])
        for (const e of (c.envFrom ?? []) as Obj[])
          if (e.configMapRef) e.configMapRef.name = renamed(e.configMapRef.name);
    }
    return o;
  });
}

/** A second Service selecting the api (an internal one beside the public one). */
function internalApiService(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'dify-api-internal', namespace: NAMESPACE },
    spec: { selector: { app: 'dify-api' }, ports: [{ port: 80, targetPort: 5001, name: 'http' }] },
  };
}

export function fixtureObjects(o: {
  node: string;
  env: Record<string, string>;
  shape?: InstallShape;
}): Record<string, unknown>[] {
  const objects = baseObjects(o);
  return o.shape === 'kustomize-prefix' ? kustomize([...objects, internalApiService()]) : objects;
}

function baseObjects(o: {
  node: string;
  env: Record<string, string>;
  shape?: InstallShape;
}): Record<string, unknown>[] {
  const shape = o.shape ?? 'hostpath';
  const separate = shape === 'settings-configmaps' || shape === 'settings-secret';
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CONFIG_MAP, namespace: NAMESPACE },
      data: { ...(separate ? {} : OPENDAL_SETTINGS), ...o.env },
    },
    ...(shape === 'settings-secret' ? [settingsSecret()] : []),
    ...(shape === 'settings-configmaps'
      ? [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: STORAGE_CONFIG_MAP, namespace: NAMESPACE },
            data: OPENDAL_SETTINGS,
          },
        ]
      : []),
    ...volumeObjects(shape, o.node),
    statefulSet('dify-api', 'api', o.node, shape),
    statefulSet('dify-worker', 'worker', o.node, shape),
    ...(shape === 'other-workloads' ? otherWorkloads() : []),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dify-api', namespace: NAMESPACE },
      spec: {
        selector: { app: 'dify-api' },
        ports: [{ port: 5001, targetPort: 5001, name: 'http' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dify-worker', namespace: NAMESPACE },
      spec: {
        clusterIP: 'None',
        selector: { app: 'dify-worker' },
        ports: [{ port: 5001, name: 'none' }],
      },
    },
  ];
}
