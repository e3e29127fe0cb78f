/** The Deployment controller: hashed ReplicaSets, Recreate/RollingUpdate, status and conditions. */
import type { ControllerContext } from './controller-context.js';
import {
  controllerRef,
  isControlledBy,
  resolveIntOrPercent,
  templateHash,
} from './controller-context.js';
import type { Obj } from './json.js';
import type { KubeObject } from './store.js';
import { clone, rfc3339 } from './store.js';

export function makeDeploymentController(ctx: ControllerContext): () => void {
  const { store, api, record, scaled } = ctx;
  const progress = new Map<string, string>();
  // Millisecond-precise time of the last progress (conditions only carry whole seconds).
  const progressAt = new Map<string, number>();
  return (): void => {
    for (const d of store.list('deployments')) {
      if (d.metadata.deletionTimestamp) continue;
      const ns = d.metadata.namespace!;
      const spec = d.spec ?? {};
      const desired: number = spec.replicas ?? 1;
      const hash = templateHash(spec.template);
      const owned = store.list('replicasets', ns).filter((rs) => isControlledBy(rs, d));
      let newRs = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
      const oldRs = owned.filter(
        (rs) => rs !== newRs && rs.metadata.labels?.['pod-template-hash'] !== hash,
      );
      const revisions = owned.map((rs) =>
        Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
      );
      let progressed = false;
      let createdMessage: string | undefined;
      if (!newRs && !spec.paused) {
        const revision = String(Math.max(0, ...revisions) + 1);
        const labels = { ...(spec.template?.metadata?.labels ?? {}), 'pod-template-hash': hash };
        const template = clone(spec.template ?? {});
        template.metadata = { ...(template.metadata ?? {}), labels };
        const selector = clone(spec.selector ?? {});
        selector.matchLabels = { ...(selector.matchLabels ?? {}), 'pod-template-hash': hash };
        try {
          newRs = api.create('replicasets', ns, {
            metadata: {
              name: `${d.metadata.name}-${hash}`,
              labels,
              annotations: {
                'deployment.kubernetes.io/desired-replicas': String(desired),
                'deployment.kubernetes.io/max-replicas': String(desired),
                'deployment.kubernetes.io/revision': revision,
              },
              ownerReferences: [controllerRef(d)],
            },
            spec: { replicas: 0, minReadySeconds: spec.minReadySeconds ?? 0, selector, template },
          }).object;
          createdMessage = `Created new replica set "${newRs.metadata.name}"`;
          progressed = true;
          const cur = store.get('deployments', ns, d.metadata.name!);
          if (cur) {
            cur.metadata.annotations = {
              ...(cur.metadata.annotations ?? {}),
              'deployment.kubernetes.io/revision': revision,
            };
            store.update('deployments', cur); // written like UpdateStatus: no generation bump
          }
        } catch (err) {
          record(d, 'FailedCreate', (err as Error).message, 'Warning', 'deployment-controller');
        }
      }
      if (newRs && !spec.paused) {
        const setReplicas = (rs: KubeObject, n: number): void => {
          if ((rs.spec?.replicas ?? 0) === n) return;
          const cur = store.get('replicasets', ns, rs.metadata.name!);
          if (!cur) return;
          cur.spec = { ...(cur.spec ?? {}), replicas: n };
          cur.metadata.generation = (cur.metadata.generation ?? 1) + 1;
          store.update('replicasets', cur);
          const from = rs.spec?.replicas ?? 0;
          record(
            d,
            'ScalingReplicaSet',
            `Scaled ${n > from ? 'up' : 'down'} replica set ${rs.metadata.name} from ${from} to ${n}`,
            'Normal',
            'deployment-controller',
          );
          progressed = true;
        };
        if (spec.strategy?.type === 'Recreate') {
          for (const rs of oldRs) setReplicas(rs, 0);
          const oldPods = store
            .list('pods', ns)
            .filter((p) => oldRs.some((rs) => isControlledBy(p, rs)));
          if (oldPods.length === 0) setReplicas(newRs, desired);
        } else {
          setReplicas(newRs, desired);
          const fresh = store.get('replicasets', ns, newRs.metadata.name!);
          if ((fresh?.status?.availableReplicas ?? 0) >= desired)
            for (const rs of oldRs) setReplicas(rs, 0);
        }
      }
      // Status from the ReplicaSets.
      const all = store.list('replicasets', ns).filter((rs) => isControlledBy(rs, d));
      const fresh = newRs ? all.find((rs) => rs.metadata.name === newRs!.metadata.name) : undefined;
      const sum = (f: (rs: KubeObject) => number): number => all.reduce((a, rs) => a + f(rs), 0);
      const replicas = sum((rs) => rs.status?.replicas ?? 0);
      const updatedReplicas = fresh?.status?.replicas ?? 0;
      const readyReplicas = sum((rs) => rs.status?.readyReplicas ?? 0);
      const availableReplicas = sum((rs) => rs.status?.availableReplicas ?? 0);
      const unavailableReplicas = Math.max(
        0,
        sum((rs) => rs.spec?.replicas ?? 0) - availableReplicas,
      );
      const key = `${ns}/${d.metadata.name}/${d.metadata.uid}`;
      const snapshot = JSON.stringify([
        fresh?.metadata.name,
        replicas,
        updatedReplicas,
        readyReplicas,
        availableReplicas,
      ]);
      if (progress.get(key) !== snapshot) {
        if (progress.has(key)) progressed = true;
        progress.set(key, snapshot);
      }
      const maxUnavailable =
        spec.strategy?.type === 'RollingUpdate'
          ? resolveIntOrPercent(
              spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%',
              desired,
              false,
            )
          : 0;
      const prevConds: Obj[] = d.status?.conditions ?? [];
      const cond = (
        type: string,
        status: string,
        reason: string,
        message: string,
        bumpUpdate: boolean,
      ): Obj => {
        const prev = prevConds.find((c) => c.type === type);
        const now = rfc3339();
        const same =
          prev && prev.status === status && prev.reason === reason && prev.message === message;
        return {
          type,
          status,
          lastUpdateTime: same && !bumpUpdate ? prev.lastUpdateTime : now,
          lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now,
          reason,
          message,
        };
      };
      const availableCond =
        availableReplicas >= desired - maxUnavailable
          ? cond(
              'Available',
              'True',
              'MinimumReplicasAvailable',
              'Deployment has minimum availability.',
              false,
            )
          : cond(
              'Available',
              'False',
              'MinimumReplicasUnavailable',
              'Deployment does not have minimum availability.',
              false,
            );
      const rsName = fresh?.metadata.name ?? `${d.metadata.name}-${hash}`;
      const complete =
        updatedReplicas === desired &&
        replicas === desired &&
        availableReplicas >= desired &&
        !!fresh;
      const prevProg = prevConds.find((c) => c.type === 'Progressing');
      if (progressed || createdMessage || !progressAt.has(key)) progressAt.set(key, Date.now());
      let progCond: Obj;
      if (spec.paused) {
        progCond = cond(
          'Progressing',
          'Unknown',
          'DeploymentPaused',
          'Deployment is paused',
          false,
        );
      } else if (complete) {
        progCond = cond(
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          `ReplicaSet "${rsName}" has successfully progressed.`,
          false,
        );
      } else if (createdMessage) {
        progCond = cond('Progressing', 'True', 'NewReplicaSetCreated', createdMessage, true);
      } else if (progressed || !prevProg) {
        progCond = cond(
          'Progressing',
          'True',
          'ReplicaSetUpdated',
          `ReplicaSet "${rsName}" is progressing.`,
          true,
        );
      } else if (
        prevProg.reason !== 'ProgressDeadlineExceeded' &&
        typeof spec.progressDeadlineSeconds === 'number' &&
        Date.now() - (progressAt.get(key) ?? Date.parse(prevProg.lastUpdateTime)) >
          scaled(spec.progressDeadlineSeconds)
      ) {
        progCond = cond(
          'Progressing',
          'False',
          'ProgressDeadlineExceeded',
          `ReplicaSet "${rsName}" has timed out progressing.`,
          true,
        );
      } else {
        progCond = prevProg;
      }
      const status: Obj = {
        observedGeneration: d.metadata.generation ?? 1,
        replicas,
        updatedReplicas,
        readyReplicas,
        availableReplicas,
        unavailableReplicas,
        conditions: [availableCond, progCond],
      };
      for (const k of [
        'replicas',
        'updatedReplicas',
        'readyReplicas',
        'availableReplicas',
        'unavailableReplicas',
      ])
        if (status[k] === 0) delete status[k];
      store.updateStatus('deployments', ns, d.metadata.name!, status);
    }
  };
}
