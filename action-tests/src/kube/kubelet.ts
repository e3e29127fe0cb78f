/**
 * The simulated kubelet: runs each bound pod's containers as real child processes (when the image
 * has a runtime), restarts them with back-off, probes readiness, stops them on deletion, and reports
 * pod status the way the kubelet does.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, posix } from 'node:path';
import type { KubeApi } from './api-operations.js';
import { ContainerConfigError, prepareVolumes, resolveEnv } from './pod-env.js';
import type { KubeObject, ObjectStore } from './store.js';
import { rfc3339 } from './store.js';
import type { Obj } from './json.js';

export interface ContainerMount {
  name: string;
  mountPath: string;
  /** Local directory (or file) backing the mount. */
  hostPath: string;
  readOnly: boolean;
}

/** Everything a runtime needs to start a container as a local process. */
export interface ContainerContext {
  pod: KubeObject;
  container: Obj;
  namespace: string;
  podName: string;
  nodeName: string;
  nodeDir: string;
  /** Env resolved from the pod template (literals, configMap/secret refs, envFrom, fieldRefs). */
  env: Record<string, string>;
  mounts: ContainerMount[];
  /** The container's root directory: every mountPath inside it is a symlink to the mount's local dir. */
  rootfs: string;
  /** An in-container absolute path as a local path under `rootfs` (follows the mount symlinks). */
  containerPath(path: string): string;
  /** An in-container absolute path resolved to the real local path (the mount's dir when under a mount). */
  hostPathFor(path: string): string;
  /** container.workingDir as a local path under rootfs (created), if the container sets one. */
  workingDir: string | undefined;
  /** A TCP port on 127.0.0.1 free right now (for the process to listen on). */
  freePort(): Promise<number>;
}

export interface ProcessSpec {
  /** argv[0] is the executable (use process.execPath for node). */
  argv: string[];
  /** Added over the resolved env (the child sees only PATH, HOME, the resolved env and these). */
  env?: Record<string, string>;
  /** Default: the container's workingDir under rootfs, else rootfs. */
  cwd?: string;
  /** Readiness check, polled while the process runs; without it the container is ready once started. */
  ready?: () => Promise<boolean>;
}

export type ContainerRuntime = (ctx: ContainerContext) => ProcessSpec | Promise<ProcessSpec>;

export interface KubeletOptions {
  nodes: Record<string, string>;
  runtimes: Record<string, ContainerRuntime>;
  stateDir: string;
  /** Shared directory standing for the NFS servers (see SimulatorOptions.nfsDir). */
  nfsDir: string;
  timeScale: number;
  readinessPeriodMs: number;
  onLog?: (line: {
    namespace: string;
    pod: string;
    container: string;
    stream: 'stdout' | 'stderr';
    line: string;
  }) => void;
  onChange: () => void;
  /** Pod events (Started, BackOff, Killing, Failed, FailedMount) as the kubelet records them. */
  onEvent?: (pod: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string) => void;
}

interface ContainerState {
  name: string;
  image: string;
  runtime: ContainerRuntime | undefined;
  state: Obj; // {waiting:{reason,message}} | {running:{startedAt}} | {terminated:{...}}
  lastState: Obj;
  restartCount: number;
  ready: boolean;
  started: boolean;
  containerID: string;
  child?: ChildProcess;
  startedAt?: string;
  stderrTail: string[];
  logs: string[];
  timers: Set<NodeJS.Timeout>;
  probing: boolean;
  ctx?: ContainerContext;
}

interface PodState {
  uid: string;
  /** spec.restartPolicy: Always restarts with back-off; Never/OnFailure let the pod finish. */
  restartPolicy: string;
  namespace: string;
  name: string;
  nodeName: string;
  podDir: string;
  startTime: string;
  containers: ContainerState[];
  prepared: boolean;
  terminating: boolean;
  conditionTimes: Record<string, { status: string; time: string }>;
  readySince?: number;
  lastWarning?: { key: string; at: number };
}

export function imageMatches(pattern: string, image: string): boolean {
  if (!pattern.includes('*')) return pattern === image;
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
  return re.test(image);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const LOG_LINES = 500;
const TAIL_LINES = 20;

export class Kubelet {
  private readonly pods = new Map<string, PodState>();
  private stopped = false;
  private readonly exitHandler = (): void => this.killAllSync();

  constructor(
    private readonly store: ObjectStore,
    private readonly api: KubeApi,
    private readonly opts: KubeletOptions,
  ) {
    process.on('exit', this.exitHandler);
  }

  /** Pods this kubelet runs (bound to one of its nodes, not finished). */
  private ownsPod(pod: KubeObject): boolean {
    const node = pod.spec?.nodeName;
    return typeof node === 'string' && Object.prototype.hasOwnProperty.call(this.opts.nodes, node);
  }

  private event(ps: PodState, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const pod = this.store.get('pods', ps.namespace, ps.name);
    if (pod && this.opts.onEvent) this.opts.onEvent(pod, type, reason, message);
  }

  /** A warning for a start that is retried on every sync: recorded again at most every 10 s (scaled). */
  private retryEvent(ps: PodState, reason: string, message: string): void {
    const key = `${reason}|${message}`;
    const now = Date.now();
    if (ps.lastWarning?.key === key && now - ps.lastWarning.at < this.ms(10)) return;
    ps.lastWarning = { key, at: now };
    this.event(ps, 'Warning', reason, message);
  }

  /** Seconds of the pod API scaled to simulator milliseconds. */
  private ms(seconds: number): number {
    return Math.max(1, Math.round(seconds * 1000 * this.opts.timeScale));
  }

  readySince(uid: string | undefined): number | undefined {
    return uid ? this.pods.get(uid)?.readySince : undefined;
  }

  processes(): Array<{ namespace: string; pod: string; container: string; pid: number }> {
    const out: Array<{ namespace: string; pod: string; container: string; pid: number }> = [];
    for (const p of this.pods.values()) {
      for (const c of p.containers) {
        if (
          c.child?.pid !== undefined &&
          c.child.exitCode === null &&
          c.child.signalCode === null
        ) {
          out.push({ namespace: p.namespace, pod: p.name, container: c.name, pid: c.child.pid });
        }
      }
    }
    return out;
  }

  logs(namespace: string, pod: string, container?: string): string[] {
    const p = [...this.pods.values()].find((x) => x.namespace === namespace && x.name === pod);
    const c = p?.containers.find((x) => container === undefined || x.name === container);
    return c ? [...c.logs] : [];
  }

  /** One pass: start new pods, stop deleted ones, publish status. */
  sync(): void {
    if (this.stopped) return;
    const live = new Map<string, KubeObject>();
    for (const pod of this.store.list('pods')) {
      if (this.ownsPod(pod) && pod.metadata.uid) live.set(pod.metadata.uid, pod);
    }
    for (const [uid, ps] of this.pods) {
      const pod = live.get(uid);
      if (!pod || pod.metadata.deletionTimestamp) this.terminate(ps);
    }
    for (const [uid, pod] of live) {
      let ps = this.pods.get(uid);
      if (!ps && !pod.metadata.deletionTimestamp) {
        if (['Succeeded', 'Failed'].includes(pod.status?.phase)) continue;
        ps = this.admit(pod);
      }
      if (!ps) {
        // Deleting a pod that never ran here: nothing to stop.
        this.api.finalizePodDeletion(pod.metadata.namespace!, pod.metadata.name!);
        continue;
      }
      if (!ps.terminating) {
        if (!ps.prepared) this.prepare(ps, pod);
        this.publish(ps, pod);
      }
    }
  }

  private admit(pod: KubeObject): PodState {
    const spec = pod.spec ?? {};
    const ps: PodState = {
      uid: pod.metadata.uid!,
      namespace: pod.metadata.namespace!,
      name: pod.metadata.name!,
      nodeName: spec.nodeName,
      restartPolicy: spec.restartPolicy ?? 'Always',
      podDir: join(
        this.opts.stateDir,
        'pods',
        `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`,
      ),
      startTime: rfc3339(),
      containers: ((spec.containers ?? []) as Obj[]).map((c) => ({
        name: c.name,
        image: c.image,
        runtime: Object.entries(this.opts.runtimes).find(([pattern]) =>
          imageMatches(pattern, c.image),
        )?.[1],
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
        restartCount: 0,
        ready: false,
        started: false,
        containerID: '',
        stderrTail: [],
        logs: [],
        timers: new Set(),
        probing: false,
      })),
      prepared: false,
      terminating: false,
      conditionTimes: {},
    };
    this.pods.set(ps.uid, ps);
    return ps;
  }

  /** Volumes and env; on a missing ConfigMap/Secret the containers wait and the next sync retries. */
  private prepare(ps: PodState, pod: KubeObject): void {
    const nodeDir = this.opts.nodes[ps.nodeName]!;
    let volumes: Record<string, string>;
    try {
      volumes = prepareVolumes(
        this.store,
        pod,
        nodeDir,
        ps.podDir,
        join(this.opts.stateDir, 'claims'),
        this.opts.nfsDir,
      );
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      for (const c of ps.containers)
        c.state = { waiting: { reason: 'ContainerCreating', message: err.message } };
      this.retryEvent(ps, 'FailedMount', err.message);
      return;
    }
    const contexts: ContainerContext[] = [];
    for (const c of ps.containers) {
      const spec = ((pod.spec?.containers ?? []) as Obj[]).find((x) => x.name === c.name)!;
      let env: Record<string, string>;
      try {
        env = resolveEnv(this.store, pod, spec);
      } catch (err) {
        if (!(err instanceof ContainerConfigError)) throw err;
        c.state = { waiting: { reason: err.reason, message: err.message } };
        this.retryEvent(ps, 'Failed', `Error: ${err.message}`);
        return;
      }
      contexts.push(this.context(ps, pod, spec, env, volumes, nodeDir));
    }
    ps.prepared = true;
    ps.containers.forEach((c, i) => {
      c.ctx = contexts[i];
      void this.startContainer(ps, c);
    });
  }

  private context(
    ps: PodState,
    pod: KubeObject,
    spec: Obj,
    env: Record<string, string>,
    volumes: Record<string, string>,
    nodeDir: string,
  ): ContainerContext {
    const rootfs = join(ps.podDir, 'rootfs', spec.name);
    mkdirSync(rootfs, { recursive: true });
    const mounts: ContainerMount[] = ((spec.volumeMounts ?? []) as Obj[])
      .filter((m) => volumes[m.name] !== undefined)
      .map((m) => {
        let hostPath = volumes[m.name]!;
        if (m.subPath) {
          hostPath = join(hostPath, m.subPath);
          mkdirSync(hostPath, { recursive: true });
        }
        return {
          name: m.name,
          mountPath: posix.normalize(m.mountPath),
          hostPath,
          readOnly: m.readOnly === true,
        };
      })
      .sort((a, b) => a.mountPath.length - b.mountPath.length);
    for (const m of mounts) {
      const link = join(rootfs, m.mountPath);
      mkdirSync(dirname(link), { recursive: true });
      if (existsSync(link) || isSymlink(link)) rmSync(link, { recursive: true, force: true });
      symlinkSync(m.hostPath, link);
    }
    const hostPathFor = (p: string): string => {
      const norm = posix.normalize(posix.isAbsolute(p) ? p : `/${p}`);
      const m = [...mounts]
        .reverse()
        .find(
          (x) =>
            norm === x.mountPath ||
            norm.startsWith(x.mountPath.endsWith('/') ? x.mountPath : `${x.mountPath}/`),
        );
      return m ? join(m.hostPath, norm.slice(m.mountPath.length)) : join(rootfs, norm);
    };
    const containerPath = (p: string): string =>
      join(rootfs, posix.normalize(posix.isAbsolute(p) ? p : `/${p}`));
    let workingDir: string | undefined;
    if (spec.workingDir) {
      workingDir = containerPath(spec.workingDir);
      mkdirSync(workingDir, { recursive: true });
    }
    return {
      pod,
      container: spec,
      namespace: ps.namespace,
      podName: ps.name,
      nodeName: ps.nodeName,
      nodeDir,
      env,
      mounts,
      rootfs,
      containerPath,
      hostPathFor,
      workingDir,
      freePort,
    };
  }

  private async startContainer(ps: PodState, c: ContainerState): Promise<void> {
    if (ps.terminating || this.stopped) return;
    const now = rfc3339();
    if (!c.runtime) {
      c.containerID = `sim://${randomUUID()}`;
      c.state = { running: { startedAt: now } };
      c.started = true;
      c.ready = true;
      this.opts.onChange();
      return;
    }
    // Like the kubelet, env is resolved at every container start: a fixed ConfigMap heals a crash loop.
    if (c.restartCount > 0) {
      const pod = this.store.get('pods', ps.namespace, ps.name);
      if (pod && c.ctx) {
        try {
          c.ctx.env = resolveEnv(this.store, pod, c.ctx.container);
        } catch (err) {
          if (!(err instanceof ContainerConfigError)) throw err;
          c.state = { waiting: { reason: err.reason, message: err.message } };
          this.opts.onChange();
          const t = setTimeout(() => {
            c.timers.delete(t);
            void this.startContainer(ps, c);
          }, this.ms(10));
          c.timers.add(t);
          return;
        }
      }
    }
    let spec: ProcessSpec;
    try {
      spec = await c.runtime(c.ctx!);
    } catch (err) {
      this.recordExit(ps, c, 128, `runtime failed: ${(err as Error).message}`, now);
      return;
    }
    if (ps.terminating || this.stopped) return;
    const env: Record<string, string> = {};
    for (const k of ['PATH', 'HOME', 'LANG', 'TZ'])
      if (process.env[k] !== undefined) env[k] = process.env[k]!;
    Object.assign(env, c.ctx!.env, spec.env ?? {});
    const cwd = spec.cwd ?? c.ctx!.workingDir ?? c.ctx!.rootfs;
    const child = spawn(spec.argv[0]!, spec.argv.slice(1), {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    c.child = child;
    c.startedAt = now;
    c.containerID = `sim://${child.pid ?? randomUUID()}`;
    c.state = { running: { startedAt: now } };
    c.started = true;
    c.ready = false;
    const onLine = (stream: 'stdout' | 'stderr') => {
      let buf = '';
      return (chunk: Buffer): void => {
        buf += chunk.toString('utf8');
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) {
          c.logs.push(line);
          if (c.logs.length > LOG_LINES) c.logs.shift();
          if (stream === 'stderr') {
            c.stderrTail.push(line);
            if (c.stderrTail.length > TAIL_LINES) c.stderrTail.shift();
          }
          this.opts.onLog?.({
            namespace: ps.namespace,
            pod: ps.name,
            container: c.name,
            stream,
            line,
          });
        }
      };
    };
    child.stdout?.on('data', onLine('stdout'));
    child.stderr?.on('data', onLine('stderr'));
    child.on('error', (err) => {
      c.stderrTail.push(String(err.message));
    });
    child.on('close', (code, signal) => {
      if (c.child !== child) return;
      c.child = undefined;
      if (ps.terminating || this.stopped) {
        this.maybeFinalize(ps);
        return;
      }
      const exitCode = code ?? 128 + (signal ? signalNumber(signal) : 0);
      this.recordExit(ps, c, exitCode, c.stderrTail.join('\n'), c.startedAt ?? now);
    });
    this.event(ps, 'Normal', 'Started', `Started container ${c.name}`);
    if (!spec.ready) c.ready = true;
    else this.probe(ps, c, child, spec.ready);
    this.opts.onChange();
  }

  private probe(
    ps: PodState,
    c: ContainerState,
    child: ChildProcess,
    check: () => Promise<boolean>,
  ): void {
    const tick = async (): Promise<void> => {
      if (c.child !== child || ps.terminating || this.stopped) return;
      let ok = false;
      try {
        ok = await check();
      } catch {
        ok = false;
      }
      if (c.child !== child) return;
      if (ok !== c.ready) {
        c.ready = ok;
        this.opts.onChange();
      }
      const t = setTimeout(() => {
        c.timers.delete(t);
        void tick();
      }, this.opts.readinessPeriodMs);
      c.timers.add(t);
    };
    void tick();
  }

  /**
   * A container exited on its own: with restartPolicy Never (OnFailure: after exit 0) it stays
   * terminated; otherwise CrashLoopBackOff with exponential back-off.
   */
  private recordExit(
    ps: PodState,
    c: ContainerState,
    exitCode: number,
    message: string,
    startedAt: string,
  ): void {
    const finishedAt = rfc3339();
    const terminated: Obj = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt,
      containerID: c.containerID,
    };
    if (message) terminated.message = message.slice(-2048);
    c.ready = false;
    if (ps.restartPolicy === 'Never' || (ps.restartPolicy === 'OnFailure' && exitCode === 0)) {
      // The container stays terminated; once all are, the pod is Succeeded or Failed.
      c.state = { terminated };
      this.event(ps, 'Normal', 'Completed', `Container ${c.name} exited with code ${exitCode}`);
      this.opts.onChange();
      return;
    }
    c.lastState = { terminated };
    c.restartCount++;
    const backoffSeconds = Math.min(10 * 2 ** (c.restartCount - 1), 300);
    c.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatDuration(backoffSeconds)} restarting failed container=${c.name} pod=${ps.name}_${ps.namespace}(${ps.uid})`,
      },
    };
    this.event(
      ps,
      'Warning',
      'BackOff',
      `Back-off restarting failed container ${c.name} in pod ${ps.name}_${ps.namespace}(${ps.uid})`,
    );
    const t = setTimeout(() => {
      c.timers.delete(t);
      void this.startContainer(ps, c);
    }, this.ms(backoffSeconds));
    c.timers.add(t);
    this.opts.onChange();
  }

  /** SIGTERM, then SIGKILL after the (scaled) grace period; the pod object goes once all exited. */
  private terminate(ps: PodState): void {
    if (ps.terminating) return;
    ps.terminating = true;
    const pod = this.store.get('pods', ps.namespace, ps.name);
    const grace =
      pod?.metadata.deletionGracePeriodSeconds ?? pod?.spec?.terminationGracePeriodSeconds ?? 30;
    for (const c of ps.containers) {
      for (const t of c.timers) clearTimeout(t);
      c.timers.clear();
      const child = c.child;
      if (!child) continue;
      this.event(ps, 'Normal', 'Killing', `Stopping container ${c.name}`);
      killProcess(child, 'SIGTERM');
      const t = setTimeout(() => killProcess(child, 'SIGKILL'), Math.min(this.ms(grace), 10_000));
      t.unref();
      child.once('close', () => clearTimeout(t));
    }
    this.maybeFinalize(ps);
  }

  private maybeFinalize(ps: PodState): void {
    if (ps.containers.some((c) => c.child)) return;
    this.pods.delete(ps.uid);
    rmSync(ps.podDir, { recursive: true, force: true });
    const pod = this.store.get('pods', ps.namespace, ps.name);
    if (pod && pod.metadata.uid === ps.uid && pod.metadata.deletionTimestamp)
      this.api.finalizePodDeletion(ps.namespace, ps.name);
    this.opts.onChange();
  }

  private condition(ps: PodState, type: string, ok: boolean): Obj {
    const status = ok ? 'True' : 'False';
    const prev = ps.conditionTimes[type];
    if (!prev || prev.status !== status) ps.conditionTimes[type] = { status, time: rfc3339() };
    return { type, status, lastProbeTime: null, lastTransitionTime: ps.conditionTimes[type]!.time };
  }

  private publish(ps: PodState, pod: KubeObject): void {
    const allReady = ps.containers.every((c) => c.ready);
    const allStarted = ps.containers.every((c) => c.started || c.restartCount > 0);
    if (allReady && ps.readySince === undefined) ps.readySince = Date.now();
    if (!allReady) ps.readySince = undefined;
    const notReady = ps.containers.filter((c) => !c.ready).map((c) => c.name);
    const readyCond = (type: string): Obj => {
      const c = this.condition(ps, type, allReady);
      if (!allReady) {
        c.reason = 'ContainersNotReady';
        c.message = `containers with unready status: [${notReady.join(' ')}]`;
      }
      return c;
    };
    const exits = ps.containers.map((c) => c.state.terminated?.exitCode as number | undefined);
    const finished = exits.every((e) => e !== undefined);
    const phase = finished
      ? exits.every((e) => e === 0)
        ? 'Succeeded'
        : 'Failed'
      : allStarted
        ? 'Running'
        : 'Pending';
    const status: Obj = {
      phase,
      conditions: [
        this.condition(ps, 'PodReadyToStartContainers', ps.prepared),
        this.condition(ps, 'Initialized', true),
        readyCond('Ready'),
        readyCond('ContainersReady'),
        this.condition(ps, 'PodScheduled', true),
      ],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      startTime: ps.startTime,
      containerStatuses: ps.containers.map((c) => ({
        name: c.name,
        state: c.state,
        lastState: c.lastState,
        ready: c.ready,
        restartCount: c.restartCount,
        image: c.image,
        imageID: `sim://${c.image}`,
        ...(c.containerID ? { containerID: c.containerID } : {}),
        started: c.child !== undefined || (c.started && !c.runtime),
      })),
      qosClass: pod.status?.qosClass ?? 'BestEffort',
    };
    this.store.updateStatus('pods', ps.namespace, ps.name, status);
  }

  /** Stops every process and waits for them to exit. */
  async stop(): Promise<void> {
    this.stopped = true;
    const waits: Promise<void>[] = [];
    for (const ps of this.pods.values()) {
      ps.terminating = true;
      for (const c of ps.containers) {
        for (const t of c.timers) clearTimeout(t);
        const child = c.child;
        if (!child) continue;
        waits.push(
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('close', () => resolve());
            killProcess(child, 'SIGTERM');
            setTimeout(() => killProcess(child, 'SIGKILL'), 2000).unref();
          }),
        );
      }
    }
    await Promise.all(waits);
    for (const ps of this.pods.values()) rmSync(ps.podDir, { recursive: true, force: true });
    this.pods.clear();
    process.off('exit', this.exitHandler);
  }

  private killAllSync(): void {
    for (const ps of this.pods.values())
      for (const c of ps.containers) if (c.child) killProcess(c.child, 'SIGKILL');
  }
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Signals the container process. Children share our process group (not detached), so a Ctrl-C in
 * the terminal reaches them too and nothing outlives an interrupted demo; runtimes should therefore
 * exec the real process (e.g. process.execPath), not a shell or npx wrapper.
 */
function killProcess(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return (
    ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 } as Record<string, number>)[
      signal
    ] ?? 0
  );
}

function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m ? `${m}m${s}s` : `${s}s`;
}
