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

function statefulSet(name: string, mode: 'api' | 'worker', node: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: NAMESPACE, labels: { app: name } },
    spec: {
      serviceName: name,
      replicas: 1,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node },
          containers: [
            {
              name,
              image: 'langgenius/dify-api:1.3.0',
              env: [{ name: 'MODE', value: mode }],
              envFrom: [{ configMapRef: { name: CONFIG_MAP } }],
              ...(mode === 'api' ? { ports: [{ containerPort: 5001, name: 'http' }] } : {}),
              volumeMounts: [{ name: 'dify-api-storage', mountPath: MOUNT_PATH }],
            },
          ],
          volumes: [
            { name: 'dify-api-storage', hostPath: { path: HOST_PATH, type: 'DirectoryOrCreate' } },
          ],
        },
      },
    },
  };
}

export function fixtureObjects(o: {
  node: string;
  env: Record<string, string>;
}): Record<string, unknown>[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CONFIG_MAP, namespace: NAMESPACE },
      data: {
        STORAGE_TYPE: 'opendal',
        OPENDAL_SCHEME: 'fs',
        OPENDAL_FS_ROOT: 'storage',
        STORAGE_LOCAL_PATH: MOUNT_PATH,
        ...o.env,
      },
    },
    statefulSet('dify-api', 'api', o.node),
    statefulSet('dify-worker', 'worker', o.node),
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
