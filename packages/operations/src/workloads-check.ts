import type { KubeClient } from '@dify-storage/kube';
import {
  describeEnvSource,
  effectiveEnv,
  labelSelectorString,
  objectPath,
  rolloutStatus,
  STORAGE_SETTING_KEYS,
  type ConfigMap,
  type Pod,
  type Secret,
  type Workload,
} from '@dify-storage/kube';
import type { StageResult } from '@dify-storage/verify';

type Outcome = Omit<StageResult, 'stage' | 'durationMs'>;

type Container = NonNullable<Pod['spec']>['containers'][number];
type Objects = Map<string, Record<string, string> | undefined>;

/**
 * The ConfigMaps and Secrets a container's env refers to, read once per run. Of a Secret only
 * the storage settings are decoded (STORAGE_TYPE, S3_ENDPOINT, ...: not secret); every other
 * value stays unread, since knowing it comes from a Secret is enough.
 */
async function loadEnvObjects(
  client: KubeClient,
  namespace: string,
  container: Container,
  objects: Objects,
): Promise<void> {
  const refs: [kind: 'ConfigMap' | 'Secret', name: string | undefined][] = [];
  for (const f of container.envFrom ?? []) {
    if (f.configMapRef) refs.push(['ConfigMap', f.configMapRef.name]);
    if (f.secretRef) refs.push(['Secret', f.secretRef.name]);
  }
  for (const e of container.env ?? []) {
    const v = e.valueFrom;
    if (v?.configMapKeyRef) refs.push(['ConfigMap', v.configMapKeyRef.name]);
    if (v?.secretKeyRef) refs.push(['Secret', v.secretKeyRef.name]);
  }
  for (const [kind, name] of refs) {
    if (!name || objects.has(`${kind}/${name}`)) continue;
    const o = await client.getOrNull<ConfigMap | Secret>(objectPath(kind, namespace, name));
    const data = o?.data ?? undefined;
    objects.set(
      `${kind}/${name}`,
      data &&
        (kind === 'ConfigMap'
          ? { ...data }
          : Object.fromEntries(
              Object.entries(data).map(([k, v]) => [
                k,
                STORAGE_SETTING_KEYS.has(k) ? Buffer.from(v, 'base64').toString('utf8') : '',
              ]),
            )),
    );
  }
}

/**
 * Stage 1: the Deployments rolled out; every pod's effective env says STORAGE_TYPE=s3 with the
 * expected endpoint and bucket; no hostPath mount remains; the S3 keys come from a Secret and no
 * ConfigMap holds them.
 */
export async function checkWorkloads(o: {
  client: KubeClient;
  namespace: string;
  names: string[];
  endpoint?: string;
  bucket: string;
}): Promise<Outcome> {
  const problems: string[] = [];
  const evidence: Record<string, unknown> = {};
  const objects: Objects = new Map();
  for (const name of o.names) {
    const deployment = await o.client.getOrNull<Workload>(
      objectPath('Deployment', o.namespace, name),
    );
    if (!deployment) {
      const sts = await o.client.getOrNull<Workload>(objectPath('StatefulSet', o.namespace, name));
      problems.push(sts ? `${name} is still a StatefulSet` : `deployment ${name} does not exist`);
      continue;
    }
    const rollout = rolloutStatus(deployment);
    if (!rollout.done || rollout.error)
      problems.push(`${name}: ${rollout.error ?? rollout.message}`);
    const selector = labelSelectorString(deployment.spec?.selector?.matchLabels);
    const pods = (await o.client.list<Pod>('Pod', o.namespace, { labelSelector: selector })).filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
    if (pods.length === 0) problems.push(`${name} has no pods`);
    const podEvidence: Record<string, unknown>[] = [];
    for (const pod of pods) {
      const podName = pod.metadata?.name ?? '?';
      const hostPaths = (pod.spec?.volumes ?? [])
        .filter((v) => v.hostPath)
        .map((v) => `${v.name}=${v.hostPath!.path}`);
      if (hostPaths.length > 0)
        problems.push(`pod ${podName} still mounts hostPath ${hostPaths.join(', ')}`);
      for (const container of pod.spec?.containers ?? []) {
        await loadEnvObjects(o.client, o.namespace, container, objects);
        const env = effectiveEnv(container, (kind, n) => objects.get(`${kind}/${n}`));
        const value = (k: string) => env.get(k)?.value;
        const storageType = value('STORAGE_TYPE');
        if (storageType !== 's3')
          problems.push(
            `pod ${podName}/${container.name}: STORAGE_TYPE is ${storageType ?? 'unset'}, not s3`,
          );
        if (o.endpoint !== undefined && value('S3_ENDPOINT') !== o.endpoint) {
          problems.push(
            `pod ${podName}/${container.name}: S3_ENDPOINT is ${value('S3_ENDPOINT') ?? 'unset'}, expected ${o.endpoint}`,
          );
        }
        if (value('S3_BUCKET_NAME') !== o.bucket) {
          problems.push(
            `pod ${podName}/${container.name}: S3_BUCKET_NAME is ${value('S3_BUCKET_NAME') ?? 'unset'}, expected ${o.bucket}`,
          );
        }
        for (const key of ['S3_ACCESS_KEY', 'S3_SECRET_KEY']) {
          const source = env.get(key)?.source;
          if (source?.kind !== 'Secret') {
            problems.push(
              `pod ${podName}/${container.name}: ${key} comes from ${source ? describeEnvSource(source) : 'nowhere'}, not from a Secret`,
            );
          }
        }
        podEvidence.push({
          pod: podName,
          container: container.name,
          node: pod.spec?.nodeName,
          STORAGE_TYPE: storageType,
          S3_ENDPOINT: value('S3_ENDPOINT'),
          S3_BUCKET_NAME: value('S3_BUCKET_NAME'),
          credentialsFrom: env.get('S3_SECRET_KEY')?.source.name,
        });
      }
    }
    evidence[name] = { rollout: rollout.message, pods: podEvidence };
  }
  for (const [ref, data] of objects) {
    if (!ref.startsWith('ConfigMap/')) continue;
    const cmName = ref.slice('ConfigMap/'.length);
    const leaked = Object.keys(data ?? {}).filter(
      (k) => k === 'S3_ACCESS_KEY' || k === 'S3_SECRET_KEY',
    );
    if (leaked.length > 0)
      problems.push(
        `ConfigMap ${cmName} holds ${leaked.join(' and ')}: credentials belong in a Secret`,
      );
  }
  if (problems.length > 0) {
    return {
      status: 'fail',
      summary:
        problems.slice(0, 5).join('; ') +
        (problems.length > 5 ? ` (+${problems.length - 5} more)` : ''),
      evidence: { ...evidence, problems },
    };
  }
  return {
    status: 'pass',
    summary: `${o.names.join(' and ')} rolled out as Deployments; every pod uses bucket ${o.bucket} with credentials from a Secret and no hostPath`,
    evidence,
  };
}
