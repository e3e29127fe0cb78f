/** Server-side defaulting of the fields the real API server fills (the subset the project reads). */
import type { KubeObject } from './store.js';
import type { Obj } from './json.js';

function podSpecDefaults(spec: Obj | undefined): void {
  if (!spec) return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Obj[]) {
    if (!c || typeof c !== 'object') continue;
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
      const tag = c.image.includes('@')
        ? 'digest'
        : (c.image.split('/').pop()!.split(':')[1] ?? 'latest');
      c.imagePullPolicy = tag === 'latest' ? 'Always' : 'IfNotPresent';
    }
    c.resources ??= {};
    for (const p of (c.ports ?? []) as Obj[]) p.protocol ??= 'TCP';
    for (const e of (c.env ?? []) as Obj[])
      if (e?.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion ??= 'v1';
  }
  for (const v of (spec.volumes ?? []) as Obj[]) {
    if (v?.hostPath) v.hostPath.type ??= '';
    if (v?.configMap) v.configMap.defaultMode ??= 420;
    if (v?.secret) v.secret.defaultMode ??= 420;
  }
}

function templateDefaults(spec: Obj | undefined): void {
  if (spec?.template && typeof spec.template === 'object') {
    spec.template.metadata ??= {};
    podSpecDefaults(spec.template.spec);
  }
}

let nextClusterIp = 10;

/**
 * Secret `data` is `[]byte`, decoded by Go's encoding/json with base64.StdEncoding, whose decoder
 * skips '\r' and '\n' (encoding/base64/base64.go; golang/go fbcfa6a5: "new line characters (CR and
 * LF) are still ignored" even in Strict mode),
 * so line-wrapped values (`base64` without `-w0`) are accepted and stored unwrapped.
 */
function unwrapBase64(data: unknown): void {
  if (!data || typeof data !== 'object') return;
  const d = data as Record<string, unknown>;
  for (const [k, v] of Object.entries(d))
    if (typeof v === 'string') d[k] = v.replace(/[\r\n]/g, '');
}

export function applyDefaults(kind: string, o: KubeObject): void {
  const spec = o.spec as Obj | undefined;
  switch (kind) {
    case 'Deployment':
      if (!spec) return;
      spec.replicas ??= 1;
      spec.strategy ??= { type: 'RollingUpdate' };
      spec.strategy.type ??= 'RollingUpdate';
      if (spec.strategy.type === 'RollingUpdate') {
        spec.strategy.rollingUpdate ??= {};
        spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
        spec.strategy.rollingUpdate.maxSurge ??= '25%';
      }
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      templateDefaults(spec);
      return;
    case 'StatefulSet':
      if (!spec) return;
      spec.replicas ??= 1;
      spec.podManagementPolicy ??= 'OrderedReady';
      spec.updateStrategy ??= { type: 'RollingUpdate' };
      if (spec.updateStrategy.type === 'RollingUpdate') {
        spec.updateStrategy.rollingUpdate ??= {};
        spec.updateStrategy.rollingUpdate.partition ??= 0;
      }
      spec.revisionHistoryLimit ??= 10;
      spec.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
      templateDefaults(spec);
      return;
    case 'CronJob':
      // pkg/apis/batch/v1/defaults.go SetDefaults_CronJob.
      if (!spec) return;
      spec.concurrencyPolicy ??= 'Allow';
      spec.suspend ??= false;
      spec.successfulJobsHistoryLimit ??= 3;
      spec.failedJobsHistoryLimit ??= 1;
      return;
    case 'ReplicaSet':
      if (!spec) return;
      spec.replicas ??= 1;
      templateDefaults(spec);
      return;
    case 'Pod':
      podSpecDefaults(spec);
      return;
    case 'Service':
      if (!spec) return;
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      if (spec.clusterIP === undefined) {
        const n = nextClusterIp++;
        spec.clusterIP = `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
      }
      spec.clusterIPs ??= [spec.clusterIP];
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      spec.internalTrafficPolicy ??= 'Cluster';
      for (const p of (spec.ports ?? []) as Obj[]) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      return;
    case 'PersistentVolume':
      if (!spec) return;
      spec.persistentVolumeReclaimPolicy ??= 'Retain';
      spec.volumeMode ??= 'Filesystem';
      return;
    case 'PersistentVolumeClaim':
      if (spec) spec.volumeMode ??= 'Filesystem';
      return;
    case 'StorageClass':
      o.reclaimPolicy ??= 'Delete';
      o.volumeBindingMode ??= 'Immediate';
      return;
    case 'Secret': {
      if (!o.type) o.type = 'Opaque';
      unwrapBase64(o.data);
      // stringData is write-only: merged into data (base64) on write, as the real server does.
      const sd = o.stringData as Record<string, string> | undefined;
      if (sd && typeof sd === 'object') {
        o.data = { ...((o.data as Record<string, string>) ?? {}) };
        for (const [k, v] of Object.entries(sd))
          (o.data as Record<string, string>)[k] = Buffer.from(String(v), 'utf8').toString('base64');
        delete o.stringData;
      }
      return;
    }
    case 'Namespace':
      o.metadata.labels = {
        ...(o.metadata.labels ?? {}),
        'kubernetes.io/metadata.name': o.metadata.name ?? '',
      };
      o.spec = { finalizers: ['kubernetes'], ...(spec ?? {}) };
      return;
  }
}
