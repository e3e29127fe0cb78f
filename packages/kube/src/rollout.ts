import type { KubeClient } from './client.js';
import { KubeStateError, RolloutFailedError } from './errors.js';
import { labelSelectorString, objectPath } from './paths.js';
import type { Logger, Pod, Workload } from './types.js';
import { sleep } from '@dify-storage/common';

export interface RolloutStatus {
  done: boolean;
  message: string;
  /** Set when waiting longer cannot help (progress deadline exceeded, untrackable strategy). */
  error?: string;
}

/**
 * The decision `kubectl rollout status` makes for a Deployment or a StatefulSet, with its
 * messages (kubectl pkg/polymorphichelpers/rollout_status.go). Pure.
 */
export function rolloutStatus(object: Workload, revision?: number): RolloutStatus {
  if (object.kind === 'Deployment') return deploymentStatus(object, revision);
  if (object.kind === 'StatefulSet') return statefulSetStatus(object);
  throw new Error(`rollout status is not supported for kind "${object.kind}"`);
}

function deploymentStatus(d: Workload, revision?: number): RolloutStatus {
  const name = d.metadata?.name ?? '';
  const status = d.status ?? {};
  if (revision !== undefined && revision > 0) {
    const raw = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
    const current = Number(raw);
    if (raw === undefined || !Number.isInteger(current)) {
      const error = `cannot get the revision of deployment "${name}"`;
      return { done: false, message: '', error };
    }
    if (revision !== current) {
      const error = `desired revision (${revision}) is different from the running revision (${current})`;
      return { done: false, message: '', error };
    }
  }
  if ((d.metadata?.generation ?? 0) <= (status.observedGeneration ?? 0)) {
    const progressing = (status.conditions ?? []).find((c) => c.type === 'Progressing');
    if (progressing?.reason === 'ProgressDeadlineExceeded') {
      const message = `deployment "${name}" exceeded its progress deadline`;
      return { done: false, message, error: message };
    }
    const specReplicas = d.spec?.replicas;
    const updated = status.updatedReplicas ?? 0;
    const replicas = status.replicas ?? 0;
    const available = status.availableReplicas ?? 0;
    if (specReplicas !== undefined && updated < specReplicas) {
      return {
        done: false,
        message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${specReplicas} new replicas have been updated...`,
      };
    }
    if (replicas > updated) {
      return {
        done: false,
        message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...`,
      };
    }
    if (available < updated) {
      return {
        done: false,
        message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...`,
      };
    }
    return { done: true, message: `deployment "${name}" successfully rolled out` };
  }
  return { done: false, message: 'Waiting for deployment spec update to be observed...' };
}

function statefulSetStatus(sts: Workload): RolloutStatus {
  const spec = sts.spec ?? {};
  const status = sts.status ?? {};
  const strategy = (spec.updateStrategy ?? {}) as {
    type?: string;
    rollingUpdate?: { partition?: number };
  };
  // The API server defaults an absent type to RollingUpdate; kubectl sees the defaulted object.
  if ((strategy.type ?? 'RollingUpdate') !== 'RollingUpdate') {
    const message = 'rollout status is only available for RollingUpdate strategy type';
    return { done: true, message, error: message };
  }
  const observed = status.observedGeneration ?? 0;
  if (observed === 0 || (sts.metadata?.generation ?? 0) > observed) {
    return { done: false, message: 'Waiting for statefulset spec update to be observed...' };
  }
  const replicas = spec.replicas;
  const ready = status.readyReplicas ?? 0;
  if (replicas !== undefined && ready < replicas) {
    return { done: false, message: `Waiting for ${replicas - ready} pods to be ready...` };
  }
  const updated = status.updatedReplicas ?? 0;
  if (strategy.rollingUpdate) {
    const partition = strategy.rollingUpdate.partition;
    if (replicas !== undefined && partition !== undefined && updated < replicas - partition) {
      return {
        done: false,
        message: `Waiting for partitioned roll out to finish: ${updated} out of ${replicas - partition} new pods have been updated...`,
      };
    }
    return {
      done: true,
      message: `partitioned roll out complete: ${updated} new pods have been updated...`,
    };
  }
  if (status.updateRevision !== status.currentRevision) {
    return {
      done: false,
      message: `waiting for statefulset rolling update to complete ${updated} pods at revision ${status.updateRevision ?? ''}...`,
    };
  }
  return {
    done: true,
    message: `statefulset rolling update complete ${Number(status.currentReplicas ?? 0)} pods at revision ${status.currentRevision ?? ''}...`,
  };
}

/**
 * Why pods of a selector are not running: per container its waiting reason and, after a
 * crash, the last termination's exit code and message. Empty when nothing is wrong.
 */
export async function podDiagnostics(
  client: KubeClient,
  namespace: string,
  matchLabels: Record<string, string> | undefined,
): Promise<string[]> {
  if (!matchLabels || Object.keys(matchLabels).length === 0) return [];
  const pods = await client.list<Pod>('Pod', namespace, {
    labelSelector: labelSelectorString(matchLabels),
  });
  return describePods(pods);
}

export function describePods(pods: Pod[]): string[] {
  const lines: string[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '?';
    const statuses = [
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.containerStatuses ?? []),
    ];
    let said = false;
    for (const cs of statuses) {
      const waiting = cs.state?.waiting;
      const terminatedNow = cs.state?.terminated;
      const last = cs.lastState?.terminated;
      if (!waiting && !(terminatedNow && terminatedNow.exitCode !== 0)) continue;
      const parts = [
        `pod ${name} container ${cs.name}: ${waiting?.reason ?? terminatedNow?.reason ?? 'Terminated'}`,
      ];
      if (waiting?.message) parts.push(`(${waiting.message})`);
      if (cs.restartCount) parts.push(`restarts=${cs.restartCount}`);
      const term = last ?? terminatedNow;
      if (term) {
        parts.push(
          `last exit ${term.exitCode ?? '?'}${term.reason ? ` ${term.reason}` : ''}${term.message ? `: ${term.message.trim()}` : ''}`,
        );
      }
      lines.push(parts.join(' '));
      said = true;
    }
    if (
      !said &&
      pod.status?.phase &&
      pod.status.phase !== 'Running' &&
      pod.status.phase !== 'Succeeded'
    ) {
      lines.push(`pod ${name}: ${pod.status.phase}`);
    }
  }
  return lines;
}

export interface WaitForRolloutOptions {
  namespace: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  timeoutMs: number;
  intervalMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

/**
 * Polls the object until the rollout is done (as kubectl decides). Fails on a progress deadline,
 * a deleted object or the timeout, with the pods' waiting reasons in the message.
 */
export async function waitForRollout(
  client: KubeClient,
  options: WaitForRolloutOptions,
): Promise<RolloutStatus> {
  const deadline = Date.now() + options.timeoutMs;
  const path = objectPath(options.kind, options.namespace, options.name);
  let lastMessage = '';
  let last: Workload | undefined;
  for (;;) {
    const object = await client.getOrNull<Workload>(path);
    if (!object) {
      throw new KubeStateError(
        `${options.kind}/${options.name} was deleted while waiting for its rollout`,
      );
    }
    last = { ...object, kind: options.kind };
    if (
      options.kind === 'Deployment' &&
      (object.spec as { paused?: boolean } | undefined)?.paused
    ) {
      throw new KubeStateError(`Deployment/${options.name} is paused; its rollout cannot finish`);
    }
    const status = rolloutStatus(last);
    if (status.error && !status.done) {
      // kubectl's words, plus the condition's reason and message as the controller set them.
      const progressing = (last.status?.conditions ?? []).find((c) => c.type === 'Progressing');
      const reason =
        progressing?.reason === 'ProgressDeadlineExceeded'
          ? ` (Progressing=False, reason ProgressDeadlineExceeded${progressing.message ? `: ${progressing.message}` : ''})`
          : '';
      throw new RolloutFailedError(
        await withDiagnostics(client, options, last, `${status.error}${reason}`),
      );
    }
    if (status.done) return status;
    if (status.message !== lastMessage) {
      options.logger?.info(status.message.trim());
      lastMessage = status.message;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const message = `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for the rollout of ${options.kind}/${options.name}: ${status.message.trim()}`;
      throw new RolloutFailedError(await withDiagnostics(client, options, last, message));
    }
    await sleep(Math.min(options.intervalMs ?? 2000, remaining), options.signal);
  }
}

async function withDiagnostics(
  client: KubeClient,
  options: WaitForRolloutOptions,
  object: Workload,
  message: string,
): Promise<string> {
  let lines: string[];
  try {
    lines = await podDiagnostics(client, options.namespace, object.spec?.selector?.matchLabels);
  } catch (error) {
    lines = [`(could not list pods: ${(error as Error).message})`];
  }
  return lines.length ? `${message}\n${lines.map((l) => `  ${l}`).join('\n')}` : message;
}
