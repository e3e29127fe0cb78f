/**
 * A minimal stand-in for the StatefulSet/Deployment controllers and the kubelet, driven by the
 * fake API server's store: pods appear and disappear with spec.replicas and statuses follow,
 * so rollout waits and freezes can be exercised. `failing` makes a Deployment crash-loop.
 */
import type { FakeApiServer } from '../../../../action-tests/src/kube/api-server.js';
import type { KubeObject } from '../../../../action-tests/src/kube/store.js';

export interface ControllerSim {
  failing: Set<string>;
  stop(): void;
}

function ownerRef(owner: KubeObject) {
  return {
    apiVersion: 'apps/v1',
    kind: owner.kind ?? '',
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function startControllerSim(
  server: FakeApiServer,
  options: { podStopMs?: number } = {},
): ControllerSim {
  const store = server.store;
  const failing = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delay = 10): void => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      try {
        reconcile();
      } catch (error) {
        process.emitWarning(`controller sim: ${(error as Error).stack}`);
      }
    }, delay);
  };
  const unsubscribe = store.subscribe((e) => {
    if (e.resource.resource !== 'pods') schedule();
  });

  const ownedPods = (owner: KubeObject): KubeObject[] =>
    store
      .list('pods', owner.metadata.namespace)
      .filter((p) => (p.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid));

  const ensurePods = (owner: KubeObject, names: string[], crash: boolean): void => {
    const existing = ownedPods(owner);
    const template = (owner.spec?.template ?? {}) as {
      metadata?: { labels?: Record<string, string> };
      spec?: Record<string, unknown>;
    };
    const podSpec = template.spec ?? {};
    const nodeSelector = (podSpec.nodeSelector ?? {}) as Record<string, string>;
    for (const name of names) {
      if (existing.some((p) => p.metadata.name === name)) continue;
      const orphan = store.get('pods', owner.metadata.namespace, name);
      if (orphan) {
        // Like the StatefulSet controller: adopt an orphan of the right name, else wait for it to go.
        if (!(orphan.metadata.ownerReferences ?? []).some((r) => r.controller)) {
          orphan.metadata.ownerReferences = [ownerRef(owner)];
          store.update('pods', orphan);
        }
        continue;
      }
      const containers = (podSpec.containers ?? []) as { name: string }[];
      store.create('pods', {
        metadata: {
          name,
          namespace: owner.metadata.namespace,
          labels: { ...(template.metadata?.labels ?? {}) },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: owner.kind ?? '',
              name: owner.metadata.name ?? '',
              uid: owner.metadata.uid ?? '',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          ...podSpec,
          nodeName:
            (podSpec.nodeName as string | undefined) ??
            nodeSelector['kubernetes.io/hostname'] ??
            'node-1',
        },
        status: {
          phase: 'Running',
          containerStatuses: containers.map((c) =>
            crash
              ? {
                  name: c.name,
                  ready: false,
                  restartCount: 3,
                  state: {
                    waiting: {
                      reason: 'CrashLoopBackOff',
                      message: 'back-off 40s restarting failed container',
                    },
                  },
                  lastState: {
                    terminated: {
                      exitCode: 1,
                      reason: 'Error',
                      message: 'botocore.exceptions.EndpointConnectionError: Could not connect',
                    },
                  },
                }
              : {
                  name: c.name,
                  ready: true,
                  restartCount: 0,
                  state: { running: { startedAt: new Date().toISOString() } },
                },
          ),
        },
      });
    }
    for (const pod of existing) {
      if (names.includes(pod.metadata.name ?? '')) continue;
      const remove = (): void => {
        if (!stopped) store.remove('pods', pod.metadata.namespace, pod.metadata.name ?? '');
      };
      if (options.podStopMs) setTimeout(remove, options.podStopMs).unref();
      else remove();
    }
  };

  const reconcile = (): void => {
    for (const sts of store.list('statefulsets')) {
      if (sts.metadata.deletionTimestamp) continue;
      const want = (sts.spec?.replicas as number | undefined) ?? 1;
      const name = sts.metadata.name ?? '';
      ensurePods(
        sts,
        Array.from({ length: want }, (_, i) => `${name}-${i}`),
        false,
      );
      const rev = `${name}-r${sts.metadata.generation ?? 1}`;
      store.updateStatus('statefulsets', sts.metadata.namespace, name, {
        observedGeneration: sts.metadata.generation ?? 1,
        replicas: want,
        readyReplicas: want,
        currentReplicas: want,
        updatedReplicas: want,
        currentRevision: rev,
        updateRevision: rev,
      });
    }
    for (const d of store.list('deployments')) {
      if (d.metadata.deletionTimestamp) continue;
      const want = (d.spec?.replicas as number | undefined) ?? 1;
      const name = d.metadata.name ?? '';
      const crash = failing.has(name);
      ensurePods(
        d,
        Array.from({ length: want }, (_, i) => `${name}-5d8f9c-${String(i).padStart(5, 'x')}`),
        crash,
      );
      store.updateStatus('deployments', d.metadata.namespace, name, {
        observedGeneration: d.metadata.generation ?? 1,
        replicas: want,
        updatedReplicas: want,
        readyReplicas: crash ? 0 : want,
        availableReplicas: crash ? 0 : want,
        conditions: [
          crash
            ? {
                type: 'Progressing',
                status: 'False',
                reason: 'ProgressDeadlineExceeded',
                message: `ReplicaSet "${name}-5d8f9c" has timed out progressing.`,
              }
            : {
                type: 'Progressing',
                status: 'True',
                reason: 'NewReplicaSetAvailable',
                message: `ReplicaSet "${name}-5d8f9c" has successfully progressed.`,
              },
        ],
      });
    }
  };

  schedule(0);
  return {
    failing,
    stop() {
      stopped = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
    },
  };
}
