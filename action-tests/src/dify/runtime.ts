import { mkdirSync } from 'node:fs';
import { difyEmulatorCommand } from './command.js';

/** The part of the pod simulator's ContainerContext this runtime uses (structural). */
export interface DifyContainerContext {
  /** The container spec: a `command` replaces the image's entrypoint. */
  container: { command?: string[]; args?: string[] };
  podName: string;
  namespace: string;
  env: Record<string, string>;
  rootfs: string;
  workingDir: string | undefined;
  containerPath(path: string): string;
  freePort(): Promise<number>;
}

export interface DifyProcessSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  ready?: () => Promise<boolean>;
}

export interface DifyRuntimeOptions {
  /** Told the port an api pod listens on (each api pod gets its own free port). */
  onListen?: (ctx: DifyContainerContext, port: number) => void;
}

/**
 * A `command` of `python`/`python3` (e.g. a one-shot probe pod in the api image, which is
 * python:3.12-slim based) runs under this machine's python3 with the container's env, in the
 * rootfs. Other commands are not emulated.
 */
function pythonCommand(ctx: DifyContainerContext): DifyProcessSpec | undefined {
  const command = ctx.container.command;
  if (!command?.length) return undefined;
  if (!/^(\/usr\/local\/bin\/)?python3?$/.test(command[0]!)) {
    throw new Error(
      `the emulated langgenius/dify-api image runs only python commands, not ${command[0]}`,
    );
  }
  return {
    argv: ['python3', ...command.slice(1), ...(ctx.container.args ?? [])],
    env: {},
    cwd: ctx.workingDir ?? ctx.rootfs,
  };
}

/**
 * A container runtime for the `langgenius/dify-api` image. Api and worker share that image, and
 * `MODE=worker` selects the worker, as in the image's entrypoint. The process runs in
 * `/app/api` (the image's WORKDIR) under the pod's rootfs, so `OPENDAL_FS_ROOT=storage` lands
 * in the hostPath mounted at `/app/api/storage`. An api gets a free port as `DIFY_PORT` and
 * its readiness is `GET /health`.
 */
export function difyRuntime(opts: DifyRuntimeOptions = {}) {
  return async (ctx: DifyContainerContext): Promise<DifyProcessSpec> => {
    const override = pythonCommand(ctx);
    if (override) return override;
    const role = ctx.env.MODE === 'worker' ? 'worker' : 'api';
    const { command, args } = difyEmulatorCommand(role);
    const env: Record<string, string> = { DIFY_EMULATOR_ROOTFS: ctx.rootfs };
    const cwd = ctx.workingDir ?? ctx.containerPath('/app/api');
    mkdirSync(cwd, { recursive: true });
    if (role === 'worker') return { argv: [command, ...args], env, cwd };
    const port = await ctx.freePort();
    env.DIFY_PORT = String(port);
    env.DIFY_BIND_ADDRESS = '127.0.0.1';
    opts.onListen?.(ctx, port);
    return {
      argv: [command, ...args],
      env,
      cwd,
      ready: async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/health`, {
            signal: AbortSignal.timeout(1000),
          });
          return res.ok;
        } catch {
          return false;
        }
      },
    };
  };
}
