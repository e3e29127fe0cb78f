import { randomBytes } from 'node:crypto';
import type { KubeClient } from './client.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './apply.js';
import { KubeStateError } from './errors.js';
import { objectPath } from './paths.js';
import type { Logger, Pod, V1Container, Workload } from './types.js';
import { pollUntil } from './wait.js';

export const PROBE_LABEL = 'dify-storage.io/probe';

/**
 * Runs in the api image (python:3.12-slim based, with certifi): one HEAD to the endpoint with
 * the CA given (else certifi, as botocore uses it). Any HTTP answer proves the pod reached the
 * endpoint and trusted its certificate. urllib wraps the verification error in URLError.reason.
 */
const PROBE_SCRIPT = `
import os, ssl, sys, urllib.error, urllib.request
url = os.environ["DSM_PROBE_URL"]
pem = os.environ.get("DSM_PROBE_CA", "")
if pem:
    ctx = ssl.create_default_context(cadata=pem)
else:
    try:
        import certifi
        ctx = ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        ctx = ssl.create_default_context()
try:
    urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), context=ctx, timeout=20)
except urllib.error.HTTPError:
    pass
except urllib.error.URLError as e:
    if isinstance(e.reason, ssl.SSLCertVerificationError):
        sys.stderr.write(f"certificate of {url} not trusted: {e.reason.verify_message}\\n")
        sys.exit(3)
    sys.stderr.write(f"cannot reach {url}: {e.reason}\\n")
    sys.exit(4)
print(f"reached {url}, certificate trusted")
`.trim();

export interface PodProbeOptions {
  namespace: string;
  /** The Deployment the api will run as: its image, pull secrets and scheduling are reused. */
  template: Workload;
  /** The endpoint as pods reach it (https). */
  endpoint: string;
  /** PEM of the private CA; without it the image's public roots decide. */
  caBundle?: string;
  timeoutMs?: number;
  intervalMs?: number;
  logger?: Logger;
}

/** A pod that runs once where the converted api's pods would run, with the probe script. */
export function probePod(o: PodProbeOptions, name: string): Pod {
  const spec = o.template.spec?.template?.spec;
  const source: V1Container | undefined =
    spec?.containers.find((c) => (c.env ?? []).some((e) => e.name === 'S3_ENDPOINT')) ??
    spec?.containers[0];
  if (!spec || !source?.image) {
    throw new KubeStateError(
      `Deployment/${o.template.metadata?.name} has no container image to probe with`,
    );
  }
  const deadline = Math.ceil((o.timeoutMs ?? 120_000) / 1000);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [PROBE_LABEL]: 's3-endpoint' },
    },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: deadline,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.affinity ? { affinity: spec.affinity } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      containers: [
        {
          name: 'probe',
          image: source.image,
          ...(source.imagePullPolicy ? { imagePullPolicy: source.imagePullPolicy } : {}),
          command: ['python3', '-c', PROBE_SCRIPT],
          env: [
            { name: 'DSM_PROBE_URL', value: o.endpoint },
            ...(o.caBundle ? [{ name: 'DSM_PROBE_CA', value: o.caBundle }] : []),
          ],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources: { limits: { cpu: '200m', memory: '128Mi' } },
        },
      ],
    },
  } as Pod;
}

/**
 * Proves that pods, not only the runner, reach the endpoint and trust its certificate: a
 * short-lived pod in the namespace, scheduled like the converted api, runs the probe once and
 * is deleted. Throws a KubeStateError naming what the pod saw. Creates nothing that stays.
 */
export async function probeEndpointFromPod(
  client: KubeClient,
  o: PodProbeOptions,
): Promise<string> {
  const name = `dify-storage-probe-${randomBytes(4).toString('hex')}`;
  const path = objectPath('Pod', o.namespace, name);
  await client.create(objectPath('Pod', o.namespace), probePod(o, name));
  o.logger?.info(`Probe pod ${name}: can pods reach ${o.endpoint} and trust its certificate?`);
  let last: Pod | undefined;
  try {
    const pod = await pollUntil(
      async () => {
        last = await client.get<Pod>(path);
        const phase = last.status?.phase;
        return phase === 'Succeeded' || phase === 'Failed' ? last : undefined;
      },
      { timeoutMs: o.timeoutMs ?? 120_000, intervalMs: o.intervalMs ?? 1000 },
      () => new KubeStateError(`probe pod ${name} did not finish in time (${waiting(last)})`),
    );
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    const said = (terminated?.message ?? '').trim().split('\n').pop() ?? '';
    if (pod.status?.phase === 'Failed') {
      throw new KubeStateError(
        `pods in namespace "${o.namespace}" cannot use ${o.endpoint}: ${said || `probe exited ${terminated?.exitCode}`}. Dify would fail after the freeze; give the CA that signed the endpoint's certificate as 'ca-bundle' (or fix the network path) and run again`,
      );
    }
    return said || `reached ${o.endpoint}, certificate trusted`;
  } finally {
    await client.delete(path).catch(() => undefined);
  }
}

function waiting(pod: Pod | undefined): string {
  const state = pod?.status?.containerStatuses?.[0]?.state?.waiting;
  return state
    ? `${state.reason}${state.message ? `: ${state.message}` : ''}`
    : `phase ${pod?.status?.phase ?? 'unknown'}`;
}
