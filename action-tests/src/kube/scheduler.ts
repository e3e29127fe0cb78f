/** The scheduler: binds pods to their pinned (or the default) node, or reports them unschedulable. */
import type { ControllerContext } from './controller-context.js';
import { pinnedNode } from './controller-context.js';
import type { Obj } from './json.js';
import { rfc3339 } from './store.js';

export function makeScheduler(ctx: ControllerContext): () => void {
  const { store, nodes, defaultNode, record } = ctx;
  return (): void => {
    for (const pod of store.list('pods')) {
      if (pod.spec?.nodeName || pod.metadata.deletionTimestamp) continue;
      const target = pinnedNode(pod.spec) ?? defaultNode;
      if (nodes[target]) {
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
        const message = `0/${n} nodes are available: ${n} node(s) didn't match Pod's node affinity/selector. preemption: 0/${n} nodes are available: ${n} Preemption is not helpful for scheduling.`;
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
