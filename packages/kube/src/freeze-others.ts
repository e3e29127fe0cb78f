/**
 * The other workloads that write the storage (other-workloads.ts) are frozen with api and worker
 * for the final delta, or files they write in that window would be missed (issue 19 §8):
 * Deployments and StatefulSets scaled to zero with their count kept in an annotation (as the
 * api/worker freeze does), CronJobs suspended with their setting kept in an annotation, then
 * waited for until no pod (no active Job) is left. After the cutover they get back what the
 * annotation says, so a re-run, or a freeze and a later apply, restores the original state.
 */
import type { KubeClient } from './client.js';
import { KubeStateError } from './errors.js';
import type { Journal } from './journal.js';
import type { StorageWriter } from './other-workloads.js';
import { objectPath } from './paths.js';
import { ORIGINAL_REPLICAS_ANNOTATION, scaleToZeroAndWait, scaleWorkload } from './scale.js';
import type { KubeObject, Logger } from './types.js';
import { pollUntil } from './wait.js';

export const ORIGINAL_SUSPEND_ANNOTATION = 'dify-storage.io/original-suspend';

export interface FreezeOthersOptions {
  namespace: string;
  writers: StorageWriter[];
  timeoutMs: number;
  intervalMs?: number;
  logger?: Logger;
  journal?: Journal;
}

interface CronJob extends KubeObject {
  spec?: { suspend?: boolean };
  status?: { active?: { name?: string }[] };
}

/** Scales the writers to zero / suspends them, and waits until nothing of them runs. */
export async function freezeOthers(client: KubeClient, o: FreezeOthersOptions): Promise<void> {
  const scaled = o.writers.filter((w) => w.kind !== 'CronJob') as {
    kind: 'Deployment' | 'StatefulSet';
    name: string;
  }[];
  if (scaled.length) {
    await scaleToZeroAndWait(client, {
      namespace: o.namespace,
      workloads: scaled,
      timeoutMs: o.timeoutMs,
      ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.journal ? { journal: o.journal } : {}),
    });
  }
  for (const w of o.writers.filter((x) => x.kind === 'CronJob')) {
    const path = objectPath('CronJob', o.namespace, w.name);
    const cj = await client.get<CronJob>(path);
    if (cj.spec?.suspend !== true) {
      await client.patch(path, {
        metadata: { annotations: { [ORIGINAL_SUSPEND_ANNOTATION]: 'false' } },
        spec: { suspend: true },
      });
      o.journal?.record('updated', 'CronJob', w.name, 'suspend false → true');
      o.logger?.info(`Suspended CronJob/${w.name}`);
    }
    // Suspending stops new Jobs only: the running ones must end before the final delta.
    let active: string[] = [];
    await pollUntil(
      async () => {
        active = ((await client.get<CronJob>(path)).status?.active ?? []).map((j) => j.name ?? '');
        return active.length === 0 ? true : undefined;
      },
      { timeoutMs: o.timeoutMs, intervalMs: o.intervalMs ?? 2000 },
      () =>
        new KubeStateError(
          `timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for the Jobs of CronJob/${w.name} to finish: ${active.join(', ')}`,
        ),
    );
  }
}

/** Gives the writers back what the freeze annotations recorded, and removes the annotations. */
export async function unfreezeOthers(
  client: KubeClient,
  o: Omit<FreezeOthersOptions, 'timeoutMs'>,
): Promise<void> {
  for (const w of o.writers) {
    const path = objectPath(w.kind, o.namespace, w.name);
    const object = await client.getOrNull<KubeObject>(path);
    const annotations = object?.metadata?.annotations ?? {};
    if (w.kind === 'CronJob') {
      const original = annotations[ORIGINAL_SUSPEND_ANNOTATION];
      if (original === undefined) continue;
      await client.patch(path, {
        metadata: { annotations: { [ORIGINAL_SUSPEND_ANNOTATION]: null } },
        spec: { suspend: original === 'true' },
      });
      o.journal?.record('updated', 'CronJob', w.name, `suspend true → ${original}`);
      o.logger?.info(`Resumed CronJob/${w.name}`);
      continue;
    }
    const replicas = Number(annotations[ORIGINAL_REPLICAS_ANNOTATION]);
    if (!Number.isInteger(replicas) || replicas < 0) continue;
    const ref = { kind: w.kind, name: w.name };
    const { previous, changed } = await scaleWorkload(client, o.namespace, ref, replicas);
    await client.patch(path, {
      metadata: { annotations: { [ORIGINAL_REPLICAS_ANNOTATION]: null } },
    });
    if (changed) {
      o.journal?.record('scaled', w.kind, w.name, `replicas ${previous} → ${replicas}`);
      o.logger?.info(`Scaled ${w.kind}/${w.name} back to ${replicas} replica(s)`);
    }
  }
}
