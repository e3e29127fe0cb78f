import type { KubeClient } from '@dify-storage/kube';
import {
  describeEnvSource,
  effectiveEnv,
  EnvObjects,
  labelSelectorString,
  objectPath,
  rolloutStatus,
  type Pod,
  type Workload,
} from '@dify-storage/kube';
import type { StageResult } from '@dify-storage/verify';

type Outcome = Omit<StageResult, 'stage' | 'durationMs'>;

type Container = NonNullable<Pod['spec']>['containers'][number];

interface WorkloadsCheck {
  client: KubeClient;
  namespace: string;
  names: string[];
  endpoint?: string;
  bucket: string;
}

/** What the stages found: problems (any fails the check) and evidence per workload. */
interface Findings {
  problems: string[];
  evidence: Record<string, unknown>;
  /** The ConfigMaps and Secrets the containers' env refers to, read once per run. */
  objects: EnvObjects;
}

/**
 * Stage 1: the Deployments rolled out; every pod's effective env says STORAGE_TYPE=s3 with the
 * expected endpoint and bucket; no hostPath mount remains; the S3 keys come from a Secret and no
 * ConfigMap holds them.
 */
export async function checkWorkloads(o: WorkloadsCheck): Promise<Outcome> {
  const found: Findings = {
    problems: [],
    evidence: {},
    objects: new EnvObjects(o.client, o.namespace),
  };
  for (const name of o.names) await checkDeployment(o, name, found);
  found.problems.push(...leakedCredentials(found.objects));
  return outcome(o, found);
}

/** One Deployment: it exists (not a StatefulSet any more), rolled out, and each pod is on S3. */
async function checkDeployment(o: WorkloadsCheck, name: string, found: Findings): Promise<void> {
  const { problems } = found;
  const deployment = await o.client.getOrNull<Workload>(
    objectPath('Deployment', o.namespace, name),
  );
  if (!deployment) {
    const sts = await o.client.getOrNull<Workload>(objectPath('StatefulSet', o.namespace, name));
    problems.push(sts ? `${name} is still a StatefulSet` : `deployment ${name} does not exist`);
    return;
  }
  const rollout = rolloutStatus(deployment);
  if (!rollout.done || rollout.error) problems.push(`${name}: ${rollout.error ?? rollout.message}`);
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
      await found.objects.load(container);
      podEvidence.push(checkContainerEnv(o, pod, container, found));
    }
  }
  found.evidence[name] = { rollout: rollout.message, pods: podEvidence };
}

/** A container's effective env: STORAGE_TYPE=s3, the expected endpoint and bucket, keys from a Secret. */
function checkContainerEnv(
  o: WorkloadsCheck,
  pod: Pod,
  container: Container,
  found: Findings,
): Record<string, unknown> {
  const where = `pod ${pod.metadata?.name ?? '?'}/${container.name}`;
  const env = effectiveEnv(container, found.objects.lookup);
  const value = (k: string) => env.get(k)?.value;
  const storageType = value('STORAGE_TYPE');
  const problems = found.problems;
  if (storageType !== 's3')
    problems.push(`${where}: STORAGE_TYPE is ${storageType ?? 'unset'}, not s3`);
  if (o.endpoint !== undefined && value('S3_ENDPOINT') !== o.endpoint) {
    problems.push(
      `${where}: S3_ENDPOINT is ${value('S3_ENDPOINT') ?? 'unset'}, expected ${o.endpoint}`,
    );
  }
  if (value('S3_BUCKET_NAME') !== o.bucket) {
    problems.push(
      `${where}: S3_BUCKET_NAME is ${value('S3_BUCKET_NAME') ?? 'unset'}, expected ${o.bucket}`,
    );
  }
  for (const key of ['S3_ACCESS_KEY', 'S3_SECRET_KEY']) {
    const source = env.get(key)?.source;
    if (source?.kind !== 'Secret') {
      problems.push(
        `${where}: ${key} comes from ${source ? describeEnvSource(source) : 'nowhere'}, not from a Secret`,
      );
    }
  }
  return {
    pod: pod.metadata?.name ?? '?',
    container: container.name,
    node: pod.spec?.nodeName,
    STORAGE_TYPE: storageType,
    S3_ENDPOINT: value('S3_ENDPOINT'),
    S3_BUCKET_NAME: value('S3_BUCKET_NAME'),
    credentialsFrom: env.get('S3_SECRET_KEY')?.source.name,
  };
}

/** The S3 keys in a ConfigMap the containers read (they belong in a Secret). */
function leakedCredentials(objects: EnvObjects): string[] {
  const problems: string[] = [];
  for (const [cmName, data] of objects.read('ConfigMap')) {
    const leaked = Object.keys(data ?? {}).filter(
      (k) => k === 'S3_ACCESS_KEY' || k === 'S3_SECRET_KEY',
    );
    if (leaked.length > 0)
      problems.push(
        `ConfigMap ${cmName} holds ${leaked.join(' and ')}: credentials belong in a Secret`,
      );
  }
  return problems;
}

function outcome(o: WorkloadsCheck, { problems, evidence }: Findings): Outcome {
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
