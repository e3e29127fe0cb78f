/** The ReplicaSet controller: keeps spec.replicas pods `<rs>-<5 chars>` and reports their counts. */
import type { ControllerContext } from './controller-context.js';
import { controllerRef, isControlledBy, podReady } from './controller-context.js';
import { selectorMatches } from './selectors.js';
import { clone } from './store.js';

export function makeReplicaSetController(ctx: ControllerContext): () => void {
  const { store, createPod, deletePod, available } = ctx;
  return (): void => {
    for (const rs of store.list('replicasets')) {
      if (rs.metadata.deletionTimestamp && (rs.metadata.finalizers ?? []).includes('orphan'))
        continue;
      const pods = store.list('pods', rs.metadata.namespace).filter((p) => isControlledBy(p, rs));
      const active = pods.filter((p) => !p.metadata.deletionTimestamp);
      const want = rs.metadata.deletionTimestamp ? active.length : (rs.spec?.replicas ?? 1);
      if (active.length < want) {
        const template = clone(rs.spec?.template ?? {});
        for (let i = active.length; i < want; i++) {
          const ok = createPod(rs, {
            metadata: {
              generateName: `${rs.metadata.name}-`,
              labels: template.metadata?.labels ?? {},
              annotations: template.metadata?.annotations,
              ownerReferences: [controllerRef(rs)],
            },
            spec: clone(template.spec),
          });
          if (!ok) break;
        }
      } else if (active.length > want) {
        const victims = [...active].sort(
          (a, b) =>
            Number(podReady(a)) - Number(podReady(b)) ||
            (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
        );
        for (const p of victims.slice(0, active.length - want)) deletePod(p, rs);
      }
      const now = store
        .list('pods', rs.metadata.namespace)
        .filter((p) => isControlledBy(p, rs) && !p.metadata.deletionTimestamp);
      const minReady = rs.spec?.minReadySeconds ?? 0;
      store.updateStatus('replicasets', rs.metadata.namespace, rs.metadata.name!, {
        replicas: now.length,
        fullyLabeledReplicas: now.filter((p) =>
          selectorMatches(rs.spec?.selector, p.metadata.labels),
        ).length,
        readyReplicas: now.filter(podReady).length,
        availableReplicas: now.filter((p) => available(p, minReady)).length,
        observedGeneration: rs.metadata.generation ?? 1,
      });
    }
  };
}
