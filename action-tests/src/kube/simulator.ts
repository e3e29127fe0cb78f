/**
 * The pod simulator: scheduler, ReplicaSet/Deployment/StatefulSet controllers and a kubelet over
 * the fake API server's store, so workloads get pods, pods get real processes and workloads get
 * the status a real cluster reports.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeApi } from './api-operations.js';
import type { FakeApiServer } from './api-server.js';
import type { ControllerContext } from './controller-context.js';
import { podReady } from './controller-context.js';
import { makeDeploymentController } from './deployment-controller.js';
import type { SimulatorEvent } from './events.js';
import { EventRecorder } from './events.js';
import type { ContainerRuntime } from './kubelet.js';
import { Kubelet } from './kubelet.js';
import { makeReplicaSetController } from './replicaset-controller.js';
import type { ResourceType } from './resources.js';
import { resolveResource } from './resources.js';
import { makeScheduler } from './scheduler.js';
import { makeStatefulSetController } from './statefulset-controller.js';
import type { KubeObject, ObjectStore } from './store.js';
import { makeVolumeBinder } from './volume-binder.js';

export type { ContainerContext, ContainerMount, ContainerRuntime, ProcessSpec } from './kubelet.js';
export { freePort } from './kubelet.js';
export { pinnedNode, templateHash } from './controller-context.js';
export type { SimulatorEvent } from './events.js';

export interface SimulatorOptions {
  server: Pick<FakeApiServer, 'store' | 'api'>;
  /** Simulated nodes: node name → local base directory (hostPath volumes live under it). */
  nodes: Record<string, string>;
  /** Image pattern (`*` wildcards, e.g. `langgenius/dify-api:*`) → how to run it as a process. */
  runtimes?: Record<string, ContainerRuntime>;
  /** Node for pods without hostname pinning (default: the first node). */
  defaultNode?: string;
  /**
   * Multiplier from Kubernetes seconds to simulated time for progressDeadlineSeconds,
   * minReadySeconds, crash back-off (10 s doubling to 300 s) and termination grace. Default 1;
   * tests use e.g. 0.01 (a 600 s deadline elapses in 6 s).
   */
  timeScale?: number;
  /** Where emptyDirs, rootfs dirs and PVC dirs go (default: a temp dir removed by stop()). */
  stateDir?: string;
  /**
   * The NFS "servers": an `nfs` PV `{server, path}` is `<nfsDir>/<server>/<path>`, one directory
   * every node sees (default `<stateDir>/nfs`).
   */
  nfsDir?: string;
  /** Controller resync period (default 100 ms). */
  tickMs?: number;
  /** Readiness probe period (default 200 ms). */
  readinessPeriodMs?: number;
  onLog?: (line: {
    namespace: string;
    pod: string;
    container: string;
    stream: 'stdout' | 'stderr';
    line: string;
  }) => void;
}

export interface Simulator {
  /** Running container processes. */
  processes(): Array<{ namespace: string; pod: string; container: string; pid: number }>;
  /** The last lines (stdout and stderr) of a pod's container. */
  logs(namespace: string, pod: string, container?: string): string[];
  /** What `kubectl get events` would show: FailedCreate, FailedScheduling, ... */
  events(): SimulatorEvent[];
  /** Runs the controllers now (they also run on every store change and every tickMs). */
  sync(): void;
  /** Kills every process, stops the controllers. Objects stay in the store. */
  stop(): Promise<void>;
}

export function startSimulator(opts: SimulatorOptions): Simulator {
  const store: ObjectStore = opts.server.store;
  const api: KubeApi = opts.server.api;
  const nodeNames = Object.keys(opts.nodes);
  if (nodeNames.length === 0)
    throw new Error('startSimulator: at least one node is required (nodes: { name: dir })');
  const defaultNode = opts.defaultNode ?? nodeNames[0]!;
  if (!opts.nodes[defaultNode])
    throw new Error(
      `startSimulator: defaultNode "${defaultNode}" is not one of ${nodeNames.join(', ')}`,
    );
  for (const dir of Object.values(opts.nodes)) mkdirSync(dir, { recursive: true });
  const ownStateDir = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'pod-sim-'));
  const timeScale = opts.timeScale ?? 1;
  const scaled = (seconds: number): number => seconds * 1000 * timeScale;
  const recorder = new EventRecorder(store);
  const record = (
    o: KubeObject,
    reason: string,
    message: string,
    type: 'Normal' | 'Warning' = 'Warning',
    component = 'simulator',
  ): void => recorder.record(o, type, reason, message, component);

  let stopped = false;
  let pending = false;
  const schedule = (): void => {
    if (pending || stopped) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      sync();
    });
  };
  const kubelet = new Kubelet(store, api, {
    nodes: opts.nodes,
    runtimes: opts.runtimes ?? {},
    stateDir,
    nfsDir: opts.nfsDir ?? join(stateDir, 'nfs'),
    timeScale,
    readinessPeriodMs: opts.readinessPeriodMs ?? 200,
    onChange: schedule,
    onEvent: (pod, type, reason, message) => record(pod, reason, message, type, 'kubelet'),
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
  });
  const detachKubelet = api.attachKubelet(nodeNames);
  api.setLogProvider((ns, pod, container) => kubelet.logs(ns, pod, container));

  const available = (p: KubeObject, minReadySeconds: number): boolean => {
    if (!podReady(p) || p.metadata.deletionTimestamp) return false;
    if (!minReadySeconds) return true;
    const since = kubelet.readySince(p.metadata.uid);
    return since !== undefined && Date.now() - since >= scaled(minReadySeconds);
  };

  /** Creates a pod for a controller, recording SuccessfulCreate/FailedCreate with upstream wording. */
  const createPod = (owner: KubeObject, pod: KubeObject): boolean => {
    const sts = owner.kind === 'StatefulSet';
    try {
      const created = api.create('pods', owner.metadata.namespace, pod).object;
      record(
        owner,
        'SuccessfulCreate',
        sts
          ? `create Pod ${created.metadata.name} in StatefulSet ${owner.metadata.name} successful`
          : `Created pod: ${created.metadata.name}`,
        'Normal',
        sts ? 'statefulset-controller' : 'replicaset-controller',
      );
      return true;
    } catch (err) {
      const msg = (err as Error).message;
      record(
        owner,
        'FailedCreate',
        sts
          ? `create Pod ${pod.metadata.name} in StatefulSet ${owner.metadata.name} failed error: ${msg}`
          : `Error creating: ${msg}`,
        'Warning',
        sts ? 'statefulset-controller' : 'replicaset-controller',
      );
      return false;
    }
  };

  const deletePod = (p: KubeObject, owner?: KubeObject): void => {
    try {
      api.delete('pods', p.metadata.namespace, p.metadata.name!, {});
      if (owner?.kind === 'StatefulSet') {
        record(
          owner,
          'SuccessfulDelete',
          `delete Pod ${p.metadata.name} in StatefulSet ${owner.metadata.name} successful`,
          'Normal',
          'statefulset-controller',
        );
      } else if (owner) {
        record(
          owner,
          'SuccessfulDelete',
          `Deleted pod: ${p.metadata.name}`,
          'Normal',
          'replicaset-controller',
        );
      }
    } catch {
      // Gone already.
    }
  };

  const ctx: ControllerContext = {
    store,
    api,
    nodes: opts.nodes,
    defaultNode,
    scaled,
    record,
    createPod,
    deletePod,
    available,
  };
  const volumes = makeVolumeBinder(ctx);
  const scheduler = makeScheduler(ctx, volumes);
  const replicaSets = makeReplicaSetController(ctx);
  const deployments = makeDeploymentController(ctx);
  const statefulSets = makeStatefulSetController(ctx);

  const sync = (): void => {
    if (stopped) return;
    try {
      replicaSets();
      deployments();
      statefulSets();
      volumes.sync();
      scheduler();
      kubelet.sync();
    } catch (err) {
      process.emitWarning(`pod simulator sync failed: ${(err as Error).stack ?? String(err)}`);
    }
  };

  const watched = new Set<ResourceType>(
    [
      'pods',
      'replicasets',
      'deployments',
      'statefulsets',
      'configmaps',
      'secrets',
      'persistentvolumes',
      'persistentvolumeclaims',
    ].map(resolveResource),
  );
  const unsubscribe = store.subscribe((e) => {
    if (watched.has(e.resource)) schedule();
  });
  const timer = setInterval(sync, opts.tickMs ?? 100);
  timer.unref();
  schedule();

  return {
    processes: () => kubelet.processes(),
    logs: (ns, pod, container) => kubelet.logs(ns, pod, container),
    events: () => recorder.list(),
    sync,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      unsubscribe();
      detachKubelet();
      api.setLogProvider(undefined);
      await kubelet.stop();
      if (ownStateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
