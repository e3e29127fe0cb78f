import type { KubeClient } from './client.js';
import { KubeStateError } from './errors.js';
import type { Journal } from './journal.js';
import { labelSelectorString, objectPath } from './paths.js';
import type { KubeObject, Logger, Pod, Workload } from './types.js';
import { pollUntil } from './wait.js';

/** Remembers the replica count on the workload itself, so a re-run of freeze does not lose it. */
export const ORIGINAL_REPLICAS_ANNOTATION = 'dify-storage.io/original-replicas';

export interface WorkloadRef {
  kind: 'StatefulSet' | 'Deployment';
  name: string;
}

interface Scale extends KubeObject {
  spec?: { replicas?: number };
  status?: { replicas?: number; selector?: string };
}

/** Sets spec.replicas through the /scale subresource (read-modify-write, retried on 409). */
export async function scaleWorkload(
  client: KubeClient,
  namespace: string,
  ref: WorkloadRef,
  replicas: number,
): Promise<{ previous: number; changed: boolean }> {
  if (!Number.isInteger(replicas) || replicas < 0)
    throw new Error(`replicas must be a whole number ≥ 0, got ${replicas}`);
  let previous = 0;
  const { changed } = await client.updateWithRetry<Scale>(
    objectPath(ref.kind, namespace, ref.name, 'scale'),
    (scale) => {
      previous = scale.spec?.replicas ?? 0;
      if (previous === replicas) return undefined;
      return { ...scale, spec: { ...scale.spec, replicas } };
    },
  );
  return { previous, changed };
}

export interface FreezeOptions {
  namespace: string;
  workloads: WorkloadRef[];
  timeoutMs: number;
  intervalMs?: number;
  logger?: Logger;
  journal?: Journal;
}

export interface FreezeResult {
  /** Replica counts before the freeze, by workload name (from the annotation on a re-run). */
  replicas: Record<string, number>;
  /** Time from the first scale request until every pod was gone. */
  waitedMs: number;
}

/**
 * Scales the workloads to zero and waits until their pods are gone (from then on nothing writes
 * to the storage). The original counts are returned and also kept in an annotation.
 */
export async function scaleToZeroAndWait(
  client: KubeClient,
  options: FreezeOptions,
): Promise<FreezeResult> {
  const started = Date.now();
  const replicas: Record<string, number> = {};
  const selectors: { ref: WorkloadRef; selector: string }[] = [];
  const objects: { ref: WorkloadRef; object: Workload }[] = [];
  for (const ref of options.workloads) {
    const object = await client.getOrNull<Workload>(
      objectPath(ref.kind, options.namespace, ref.name),
    );
    if (!object)
      throw new KubeStateError(
        `${ref.kind}/${ref.name} not found in namespace "${options.namespace}"`,
      );
    const matchLabels = object.spec?.selector?.matchLabels;
    if (!matchLabels || Object.keys(matchLabels).length === 0) {
      throw new KubeStateError(
        `${ref.kind}/${ref.name} has no spec.selector.matchLabels; cannot find its pods`,
      );
    }
    objects.push({ ref, object });
    selectors.push({ ref, selector: labelSelectorString(matchLabels) });
  }
  for (const { ref, object } of objects) {
    const current = object.spec?.replicas ?? 1;
    const remembered = Number(object.metadata?.annotations?.[ORIGINAL_REPLICAS_ANNOTATION]);
    if (current > 0) {
      replicas[ref.name] = current;
      await client.patch(objectPath(ref.kind, options.namespace, ref.name), {
        metadata: { annotations: { [ORIGINAL_REPLICAS_ANNOTATION]: String(current) } },
      });
      options.journal?.record(
        'annotated',
        ref.kind,
        ref.name,
        `${ORIGINAL_REPLICAS_ANNOTATION}=${current}`,
      );
      await scaleWorkload(client, options.namespace, ref, 0);
      options.journal?.record('scaled', ref.kind, ref.name, `replicas ${current} → 0`);
      options.logger?.info(`Scaled ${ref.kind}/${ref.name} from ${current} to 0 replicas`);
    } else {
      replicas[ref.name] = Number.isInteger(remembered) && remembered > 0 ? remembered : 0;
      options.logger?.info(
        `${ref.kind}/${ref.name} is already at 0 replicas (original: ${replicas[ref.name]})`,
      );
    }
  }
  await waitForPodsGone(
    client,
    options.namespace,
    selectors.map((s) => s.selector),
    options,
  );
  return { replicas, waitedMs: Date.now() - started };
}

/** Waits until no pod matches any of the label selectors; the timeout error names the pods left. */
export async function waitForPodsGone(
  client: KubeClient,
  namespace: string,
  selectors: string[],
  options: { timeoutMs: number; intervalMs?: number; logger?: Logger },
): Promise<void> {
  let remaining: Pod[] = [];
  const list = async (): Promise<Pod[]> => {
    const pods: Pod[] = [];
    for (const labelSelector of selectors)
      pods.push(...(await client.list<Pod>('Pod', namespace, { labelSelector })));
    return pods;
  };
  await pollUntil(
    async () => {
      remaining = await list();
      return remaining.length === 0 ? true : undefined;
    },
    { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 2000 },
    () =>
      new KubeStateError(
        `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for pods to terminate; still present: ${remaining
          .map(
            (p) =>
              `${p.metadata?.name} (${p.status?.phase ?? 'unknown'}${p.spec?.nodeName ? ` on ${p.spec.nodeName}` : ''})`,
          )
          .join(', ')}`,
      ),
  );
}
