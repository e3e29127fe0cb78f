import { describe, expect, it } from '@jest/globals';
import {
  CONVERTED_FROM_ANNOTATION,
  mapUpdateStrategy,
  statefulSetToDeployment,
  type ConversionOptions,
  type Workload,
} from '../src/index.js';
import type { V1Container, V1PodSpec } from '../src/types.js';
import { difySts, STORAGE_PATH } from './fixtures/install.js';

const options: ConversionOptions = {
  storageMountPath: STORAGE_PATH,
  hostPathVolumeName: 'dify-api-storage',
  secretName: 'dify-s3-credentials',
  storageConfigMapName: 'dify-shared-config',
};

const podSpec = (w: Workload): V1PodSpec => w.spec?.template?.spec as V1PodSpec;
const container = (w: Workload, i = 0): V1Container => podSpec(w).containers[i] as V1Container;

describe('statefulSetToDeployment', () => {
  it('turns the StatefulSet into a Deployment without STS-only fields, status or server metadata', () => {
    const d = statefulSetToDeployment(difySts('dify-api'), {
      ...options,
      progressDeadlineSeconds: 300,
    });
    expect(d.apiVersion).toBe('apps/v1');
    expect(d.kind).toBe('Deployment');
    expect(d.metadata).toEqual({
      name: 'dify-api',
      namespace: 'dify',
      labels: { app: 'dify-api', 'app.kubernetes.io/part-of': 'dify' },
      annotations: { team: 'ai', [CONVERTED_FROM_ANNOTATION]: 'StatefulSet' },
    });
    expect(Object.keys(d.spec ?? {}).sort()).toEqual(
      [
        'progressDeadlineSeconds',
        'replicas',
        'revisionHistoryLimit',
        'selector',
        'strategy',
        'template',
      ].sort(),
    );
    expect(d.spec?.progressDeadlineSeconds).toBe(300);
    expect(d.spec?.replicas).toBe(1);
    expect(d.status).toBeUndefined();
  });

  it('keeps labels, selector and template labels so Services still select the pods', () => {
    const sts = difySts('dify-api');
    const d = statefulSetToDeployment(sts, options);
    expect(d.spec?.selector).toEqual(sts.spec?.selector);
    expect(d.spec?.template?.metadata?.labels).toEqual(sts.spec?.template?.metadata?.labels);
  });

  it('replaces the hostPath volume and its mounts with an emptyDir at the storage path', () => {
    const d = statefulSetToDeployment(difySts('dify-api'), options);
    expect(podSpec(d).volumes).toEqual([
      { name: 'config', configMap: { name: 'dify-extra' } },
      { name: 'storage-scratch', emptyDir: {} },
    ]);
    expect(container(d).volumeMounts).toEqual([
      { name: 'config', mountPath: '/etc/dify' },
      { name: 'storage-scratch', mountPath: STORAGE_PATH },
    ]);
    expect(JSON.stringify(d)).not.toContain('hostPath');
  });

  it('removes hostPath mounts from init containers too and gives them the emptyDir', () => {
    const sts = difySts('dify-api');
    podSpec(sts).initContainers = [
      {
        name: 'migrate',
        image: 'x',
        volumeMounts: [{ name: 'dify-api-storage', mountPath: STORAGE_PATH }],
      },
      {
        name: 'chown',
        image: 'y',
        volumeMounts: [{ name: 'dify-api-storage', mountPath: '/data', subPath: 'x' }],
      },
      { name: 'noop', image: 'z' },
    ];
    const d = statefulSetToDeployment(sts, options);
    const init = podSpec(d).initContainers ?? [];
    expect(init[0]?.volumeMounts).toEqual([{ name: 'storage-scratch', mountPath: STORAGE_PATH }]);
    // A mount of the hostPath elsewhere goes; the storage path itself stays writable.
    expect(init[1]?.volumeMounts).toEqual([{ name: 'storage-scratch', mountPath: STORAGE_PATH }]);
    expect(init[2]?.volumeMounts).toBeUndefined();
    // They only mount the storage: the emptyDir, but no S3 credentials (issue 19 §8).
    expect(JSON.stringify(init)).not.toContain('S3_');
  });

  it('picks a scratch volume name that does not collide', () => {
    const sts = difySts('dify-api');
    podSpec(sts).volumes?.push({ name: 'storage-scratch', emptyDir: {} });
    const d = statefulSetToDeployment(sts, options);
    expect(podSpec(d).volumes?.map((v) => v.name)).toEqual([
      'config',
      'storage-scratch',
      'storage-scratch-2',
    ]);
  });

  it('drops volumeClaimTemplates and the mounts that reference them', () => {
    const sts = difySts('dify-api');
    sts.spec!.volumeClaimTemplates = [
      {
        metadata: { name: 'logs' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    ];
    container(sts).volumeMounts?.push({ name: 'logs', mountPath: '/app/logs' });
    const d = statefulSetToDeployment(sts, options);
    expect(d.spec?.volumeClaimTemplates).toBeUndefined();
    expect(container(d).volumeMounts?.map((m) => m.name)).toEqual(['config', 'storage-scratch']);
  });

  it('replaces a claim-template mount at the storage path with the emptyDir', () => {
    const sts = difySts('dify-api');
    podSpec(sts).volumes = [{ name: 'config', configMap: { name: 'dify-extra' } }];
    container(sts).volumeMounts = [{ name: 'data', mountPath: STORAGE_PATH + '/' }];
    sts.spec!.volumeClaimTemplates = [{ metadata: { name: 'data' } }];
    const d = statefulSetToDeployment(sts, { ...options, hostPathVolumeName: 'data' });
    expect(container(d).volumeMounts).toEqual([
      { name: 'storage-scratch', mountPath: STORAGE_PATH },
    ]);
  });

  describe('hostname pinning', () => {
    it('removes nodeName and the kubernetes.io/hostname nodeSelector but keeps other selectors', () => {
      const sts = difySts('dify-api');
      podSpec(sts).nodeName = 'node-1';
      const d = statefulSetToDeployment(sts, options);
      expect(podSpec(d).nodeName).toBeUndefined();
      expect(podSpec(d).nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    });

    it('drops an emptied nodeSelector entirely', () => {
      const sts = difySts('dify-api');
      podSpec(sts).nodeSelector = { 'kubernetes.io/hostname': 'node-1' };
      expect(podSpec(statefulSetToDeployment(sts, options)).nodeSelector).toBeUndefined();
    });

    it('drops only hostname expressions of required node affinity and terms left empty', () => {
      const sts = difySts('dify-api');
      podSpec(sts).nodeSelector = undefined;
      podSpec(sts).affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: ['node-1'] },
                  { key: 'gpu', operator: 'Exists' },
                ],
              },
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: ['node-2'] },
                ],
              },
              { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-3'] }] },
            ],
          },
        },
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } },
          ],
        },
      };
      const d = statefulSetToDeployment(sts, options);
      expect(podSpec(d).affinity).toEqual({
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }],
          },
        },
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } },
          ],
        },
      });
    });

    it('removes affinity entirely when only hostname pinning was in it', () => {
      const sts = difySts('dify-api');
      podSpec(sts).affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] },
                ],
              },
            ],
          },
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 10,
              preference: {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] },
                ],
              },
            },
          ],
        },
      };
      expect(podSpec(statefulSetToDeployment(sts, options)).affinity).toBeUndefined();
    });

    it('keeps preferred terms that still have other expressions, and tolerations', () => {
      const sts = difySts('dify-api');
      podSpec(sts).tolerations = [
        { key: 'dedicated', operator: 'Equal', value: 'dify', effect: 'NoSchedule' },
      ];
      podSpec(sts).affinity = {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 10,
              preference: {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] },
                  { key: 'zone', operator: 'In', values: ['a'] },
                ],
              },
            },
          ],
        },
      };
      const d = statefulSetToDeployment(sts, options);
      expect(
        podSpec(d).affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution,
      ).toEqual([
        {
          weight: 10,
          preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
        },
      ]);
      expect(podSpec(d).tolerations).toEqual(podSpec(sts).tolerations);
    });
  });

  describe('updateStrategy → strategy', () => {
    it.each([
      [undefined, undefined],
      [{ type: 'RollingUpdate' }, { type: 'RollingUpdate' }],
      [{ type: 'RollingUpdate', rollingUpdate: { partition: 2 } }, { type: 'RollingUpdate' }],
      [
        { type: 'RollingUpdate', rollingUpdate: { partition: 0, maxUnavailable: 2 } },
        { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } },
      ],
      [
        { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '50%' } },
        { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '50%' } },
      ],
      [{ type: 'OnDelete' }, { type: 'RollingUpdate' }],
      [{ type: 'Recreate' }, { type: 'Recreate' }],
    ])('%j → %j', (from, to) => {
      expect(mapUpdateStrategy(from)).toEqual(to);
      const sts = difySts('dify-api');
      sts.spec!.updateStrategy = from;
      expect(statefulSetToDeployment(sts, options).spec?.strategy).toEqual(to);
    });

    it('rejects an unknown strategy type by name', () => {
      expect(() => mapUpdateStrategy({ type: 'Sideways' }, 'dify-api')).toThrow(
        'StatefulSet/dify-api has updateStrategy.type "Sideways"; known: RollingUpdate, OnDelete, Recreate',
      );
    });
  });

  it('drops serviceName, podManagementPolicy, persistentVolumeClaimRetentionPolicy and ordinals', () => {
    const sts = difySts('dify-api');
    sts.spec!.ordinals = { start: 1 };
    const spec = statefulSetToDeployment(sts, options).spec ?? {};
    for (const field of [
      'serviceName',
      'podManagementPolicy',
      'persistentVolumeClaimRetentionPolicy',
      'ordinals',
      'volumeClaimTemplates',
      'updateStrategy',
    ]) {
      expect(spec).not.toHaveProperty(field);
    }
  });

  it('keeps minReadySeconds and refuses a progress deadline not above it', () => {
    const sts = difySts('dify-api');
    sts.spec!.minReadySeconds = 30;
    expect(
      statefulSetToDeployment(sts, { ...options, progressDeadlineSeconds: 31 }).spec
        ?.minReadySeconds,
    ).toBe(30);
    expect(() => statefulSetToDeployment(sts, { ...options, progressDeadlineSeconds: 30 })).toThrow(
      'progressDeadlineSeconds (30) must be greater than minReadySeconds (30) of StatefulSet/dify-api',
    );
  });

  it('references the Secret for the credentials in every container that had the storage env', () => {
    const sts = difySts('dify-api');
    podSpec(sts).containers.push({ name: 'sidecar', image: 'nginx' });
    podSpec(sts).initContainers = [
      { name: 'migrate', image: 'x', envFrom: [{ configMapRef: { name: 'dify-shared-config' } }] },
    ];
    const d = statefulSetToDeployment(sts, options);
    const refs = (c: V1Container | undefined) =>
      (c?.env ?? []).filter((e) => e.valueFrom?.secretKeyRef);
    const expected = [
      {
        name: 'S3_ACCESS_KEY',
        valueFrom: { secretKeyRef: { name: 'dify-s3-credentials', key: 'S3_ACCESS_KEY' } },
      },
      {
        name: 'S3_SECRET_KEY',
        valueFrom: { secretKeyRef: { name: 'dify-s3-credentials', key: 'S3_SECRET_KEY' } },
      },
    ];
    expect(refs(container(d, 0))).toEqual(expected);
    expect(refs(podSpec(d).initContainers?.[0])).toEqual(expected);
    expect(container(d, 1).env).toBeUndefined();
    // Other env and envFrom untouched.
    expect(container(d).env?.slice(0, 2)).toEqual([
      { name: 'MODE', value: 'api' },
      { name: 'SECRET_KEY', value: 'sk-super-secret-value' },
    ]);
    expect(container(d).envFrom).toEqual(container(sts).envFrom);
  });

  it('mounts a private CA bundle and points boto3 at it only in the containers that use the storage', () => {
    const sts = difySts('dify-api');
    podSpec(sts).containers.push({
      name: 'sidecar',
      image: 'nginx',
      env: [{ name: 'AWS_CA_BUNDLE', value: '/own/ca.pem' }],
    });
    const d = statefulSetToDeployment(sts, { ...options, caBundle: true });
    expect(podSpec(d).volumes).toContainEqual({
      name: 'dify-s3-ca-bundle',
      configMap: {
        name: 'dify-s3-ca-bundle',
        items: [{ key: 'ca-bundle.crt', path: 'ca-bundle.crt' }],
      },
    });
    expect(container(d).volumeMounts).toContainEqual({
      name: 'dify-s3-ca-bundle',
      mountPath: '/etc/dify-storage/ca',
      readOnly: true,
    });
    expect(container(d).env).toEqual(
      expect.arrayContaining([
        { name: 'AWS_CA_BUNDLE', value: '/etc/dify-storage/ca/ca-bundle.crt' },
        { name: 'REQUESTS_CA_BUNDLE', value: '/etc/dify-storage/ca/ca-bundle.crt' },
      ]),
    );
    // A container without the storage keeps its own settings and gets no mount.
    expect(container(d, 1).env).toEqual([{ name: 'AWS_CA_BUNDLE', value: '/own/ca.pem' }]);
    expect(container(d, 1).volumeMounts).toBeUndefined();
    expect(statefulSetToDeployment(sts, options).spec?.template?.spec?.volumes).not.toContainEqual(
      expect.objectContaining({ name: 'dify-s3-ca-bundle' }),
    );
  });

  it('rewrites inline storage env (it would override the ConfigMap) and drops OpenDAL keys', () => {
    const sts = difySts('dify-api');
    container(sts).envFrom = undefined;
    container(sts).env = [
      { name: 'STORAGE_TYPE', value: 'opendal' },
      { name: 'OPENDAL_SCHEME', value: 'fs' },
      {
        name: 'OPENDAL_FS_ROOT',
        valueFrom: { configMapKeyRef: { name: 'dify-shared-config', key: 'OPENDAL_FS_ROOT' } },
      },
      {
        name: 'ROOT',
        valueFrom: { configMapKeyRef: { name: 'dify-shared-config', key: 'STORAGE_LOCAL_PATH' } },
      },
      { name: 'S3_ACCESS_KEY', value: 'plain-in-spec' },
      { name: 'LOG_LEVEL', value: 'INFO' },
    ];
    const inline = { STORAGE_TYPE: 's3', S3_ENDPOINT: 'http://rgw:80', S3_BUCKET_NAME: 'dify' };
    const d = statefulSetToDeployment(sts, { ...options, inlineStorageEnv: inline });
    expect(container(d).env?.map((e) => [e.name, e.value ?? 'ref'])).toEqual([
      ['LOG_LEVEL', 'INFO'],
      ['STORAGE_TYPE', 's3'],
      ['S3_ENDPOINT', 'http://rgw:80'],
      ['S3_BUCKET_NAME', 'dify'],
      ['S3_ACCESS_KEY', 'ref'],
      ['S3_SECRET_KEY', 'ref'],
    ]);
    expect(JSON.stringify(d)).not.toContain('plain-in-spec');
    expect(() => statefulSetToDeployment(sts, options)).toThrow(
      /sets storage env inline .* pass inlineStorageEnv/,
    );
  });

  it('does not modify its input', () => {
    const sts = difySts('dify-api');
    const before = JSON.stringify(sts);
    statefulSetToDeployment(sts, options);
    expect(JSON.stringify(sts)).toBe(before);
  });

  it('refuses objects that are not usable StatefulSets', () => {
    expect(() =>
      statefulSetToDeployment({ kind: 'Deployment', metadata: { name: 'x' } }, options),
    ).toThrow('Deployment/x is not a StatefulSet');
    expect(() =>
      statefulSetToDeployment({ kind: 'StatefulSet', metadata: { name: 'x' }, spec: {} }, options),
    ).toThrow('StatefulSet/x has no spec.template.spec');
    expect(() =>
      statefulSetToDeployment(difySts('dify-api'), { ...options, storageMountPath: 'app' }),
    ).toThrow('must be absolute');
  });
});
