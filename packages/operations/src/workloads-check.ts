import type { KubeClient } from '@dify-storage/kube';
import {
  labelSelectorString,
  objectPath,
  rolloutStatus,
  type ConfigMap,
  type Pod,
  type Workload,
} from '@dify-storage/kube';
import type { StageResult } from '@dify-storage/verify';

type Outcome = Omit<StageResult, 'stage' | 'durationMs'>;

interface EnvSource {
  value?: string;
  from: 'literal' | 'configmap' | 'secret' | 'missing';
  ref?: string;
}

/** A container's effective environment as the kubelet would resolve it (the pod spec holds refs). */
async function effectiveEnv(
  client: KubeClient,
  namespace: string,
  container: NonNullable<Pod['spec']>['containers'][number],
  configMaps: Map<string, ConfigMap | undefined>,
): Promise<Map<string, EnvSource>> {
  const readConfigMap = async (name: string) => {
    if (!configMaps.has(name))
      configMaps.set(
        name,
        await client.getOrNull<ConfigMap>(objectPath('ConfigMap', namespace, name)),
      );
    return configMaps.get(name);
  };
  const env = new Map<string, EnvSource>();
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef?.name) {
      const cm = await readConfigMap(from.configMapRef.name);
      for (const [k, v] of Object.entries(cm?.data ?? {})) {
        env.set(`${from.prefix ?? ''}${k}`, {
          value: v,
          from: 'configmap',
          ref: from.configMapRef.name,
        });
      }
    }
    if (from.secretRef?.name) {
      // Values of secrets are never read: knowing the key comes from a Secret is enough.
      env.set(`${from.prefix ?? ''}*`, { from: 'secret', ref: from.secretRef.name });
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom?.configMapKeyRef) {
      const cm = await readConfigMap(e.valueFrom.configMapKeyRef.name ?? '');
      const value = cm?.data?.[e.valueFrom.configMapKeyRef.key];
      env.set(
        e.name,
        value === undefined
          ? { from: 'missing' }
          : { value, from: 'configmap', ref: e.valueFrom.configMapKeyRef.name },
      );
    } else if (e.valueFrom?.secretKeyRef) {
      env.set(e.name, {
        from: 'secret',
        ref: `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`,
      });
    } else {
      env.set(e.name, { value: e.value ?? '', from: 'literal' });
    }
  }
  return env;
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
  const configMaps = new Map<string, ConfigMap | undefined>();
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
        const env = await effectiveEnv(o.client, o.namespace, container, configMaps);
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
          const source = env.get(key) ?? env.get('*');
          if (source?.from !== 'secret') {
            problems.push(
              `pod ${podName}/${container.name}: ${key} comes from ${source ? `a ${source.from}` : 'nowhere'}, not from a Secret`,
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
          credentialsFrom: env.get('S3_SECRET_KEY')?.ref ?? env.get('*')?.ref,
        });
      }
    }
    evidence[name] = { rollout: rollout.message, pods: podEvidence };
  }
  for (const [cmName, cm] of configMaps) {
    const leaked = Object.keys(cm?.data ?? {}).filter(
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
