/** The scheduler: binds pods to their pinned (or the default) node, or reports them unschedulable. */
import type { ControllerContext } from './controller-context.js';
import { pinnedNode } from './controller-context.js';
import type { Obj } from './json.js';
import { rfc3339 } from './store.js';
import type { VolumeBinder } from './volume-binder.js';

/** Where a pod can go: its pin, else the default node, narrowed by its volumes' node affinity. */
function chooseNode(
  pod: Obj,
  ctx: ControllerContext,
  volumes: VolumeBinder,
): { node: string } | { reason: string } {
  const pinned = pinnedNode(pod.spec);
  const constraint = volumes.podConstraint(pod as never);
  if ('error' in constraint) return { reason: constraint.error };
  const allowed = constraint.nodes;
  const n = Object.keys(ctx.nodes).length;
  const selectorMiss = "node(s) didn't match Pod's node affinity/selector";
  const conflict = 'node(s) had volume node affinity conflict';
  if (pinned) {
    if (!ctx.nodes[pinned]) return { reason: `${n} ${selectorMiss}` };
    if (allowed && !allowed.includes(pinned)) {
      const others = n - 1 ? `${n - 1} ${selectorMiss}, ` : '';
      return { reason: `${others}1 ${conflict}` };
    }
    return { node: pinned };
  }
  if (!allowed || allowed.includes(ctx.defaultNode)) return { node: ctx.defaultNode };
  return allowed[0] ? { node: allowed[0] } : { reason: `${n} ${conflict}` };
}

export function makeScheduler(ctx: ControllerContext, volumes: VolumeBinder): () => void {
  const { store, nodes, record } = ctx;
  return (): void => {
    for (const pod of store.list('pods')) {
      if (pod.spec?.nodeName || pod.metadata.deletionTimestamp) continue;
      const choice = chooseNode(pod, ctx, volumes);
      if ('node' in choice) {
        const target = choice.node;
        volumes.bindForNode(pod, target);
        pod.spec = { ...(pod.spec ?? {}), nodeName: target };
        const bound = store.update('pods', pod);
        record(
          bound,
          'Scheduled',
          `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${target}`,
          'Normal',
          'default-scheduler',
        );
      } else {
        const n = Object.keys(nodes).length;
        const message = `0/${n} nodes are available: ${choice.reason}. preemption: 0/${n} nodes are available: ${n} Preemption is not helpful for scheduling.`;
        const prev = (pod.status?.conditions ?? []).find((c: Obj) => c.type === 'PodScheduled');
        store.updateStatus('pods', pod.metadata.namespace, pod.metadata.name!, {
          ...(pod.status ?? {}),
          phase: 'Pending',
          conditions: [
            {
              type: 'PodScheduled',
              status: 'False',
              lastProbeTime: null,
              lastTransitionTime: prev?.lastTransitionTime ?? rfc3339(),
              reason: 'Unschedulable',
              message,
            },
          ],
        });
        record(pod, 'FailedScheduling', message, 'Warning', 'default-scheduler');
      }
    }
  };
}
