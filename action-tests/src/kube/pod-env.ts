/** What the kubelet resolves before starting a container: environment variables and volume directories. */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject, ObjectStore } from './store.js';
import type { Obj } from './json.js';

/** A container that cannot start yet, with the waiting reason the kubelet reports. */
export class ContainerConfigError extends Error {
  constructor(
    readonly reason: 'CreateContainerConfigError' | 'ContainerCreating',
    message: string,
  ) {
    super(message);
  }
}

function fieldRefValue(pod: KubeObject, path: string): string {
  const m = path.match(/^metadata\.(labels|annotations)\['(.+)'\]$/);
  if (m) return (pod.metadata[m[1] as 'labels' | 'annotations'] ?? {})[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.hostIP':
      return '127.0.0.1';
    default:
      return '';
  }
}

/** `$(VAR)` expansion against earlier variables; `$$(VAR)` stays literal `$(VAR)`. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g,
    (all, name: string | undefined) => {
      if (all === '$$') return '$';
      return name !== undefined && Object.prototype.hasOwnProperty.call(env, name)
        ? env[name]!
        : all;
    },
  );
}

function decodeSecret(v: string): string {
  return Buffer.from(v, 'base64').toString('utf8');
}

/** Resolves `envFrom` then `env` like the kubelet; throws CreateContainerConfigError for missing non-optional refs. */
export function resolveEnv(
  store: ObjectStore,
  pod: KubeObject,
  container: Obj,
): Record<string, string> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = {};
  const source = (
    kind: 'ConfigMap' | 'Secret',
    name: string,
    optional: boolean,
  ): Record<string, string> | undefined => {
    const o = store.get(kind === 'ConfigMap' ? 'configmaps' : 'secrets', ns, name);
    if (!o) {
      if (optional) return undefined;
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `${kind.toLowerCase()} "${name}" not found`,
      );
    }
    const data = (o.data ?? {}) as Record<string, string>;
    return kind === 'Secret'
      ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, decodeSecret(v)]))
      : data;
  };
  for (const from of (container.envFrom ?? []) as Obj[]) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const data = source(
      from.configMapRef ? 'ConfigMap' : 'Secret',
      ref.name,
      ref.optional === true,
    );
    for (const [k, v] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of (container.env ?? []) as Obj[]) {
    if (e.valueFrom) {
      const vf = e.valueFrom as Obj;
      const keyRef = vf.configMapKeyRef ?? vf.secretKeyRef;
      if (keyRef) {
        const kind = vf.configMapKeyRef ? 'ConfigMap' : 'Secret';
        const data = source(kind, keyRef.name, keyRef.optional === true);
        if (data === undefined) continue;
        if (!Object.prototype.hasOwnProperty.call(data, keyRef.key)) {
          if (keyRef.optional === true) continue;
          throw new ContainerConfigError(
            'CreateContainerConfigError',
            `couldn't find key ${keyRef.key} in ${kind} ${ns}/${keyRef.name}`,
          );
        }
        env[e.name] = data[keyRef.key]!;
      } else if (vf.fieldRef) {
        env[e.name] = fieldRefValue(pod, vf.fieldRef.fieldPath);
      } else {
        env[e.name] = '';
      }
    } else {
      env[e.name] = expand(String(e.value ?? ''), env);
    }
  }
  return env;
}

export interface VolumeDirs {
  /** volume name → local directory (or file for FileOrCreate/File hostPaths). */
  [volume: string]: string;
}

/** A hostPath on the simulated node, with the kubelet's type checks and creation. */
function hostPathDir(volume: string, path: string, type: string, nodeDir: string): string {
  const host = join(nodeDir, path);
  const fail = (what: string): never => {
    throw new ContainerConfigError(
      'ContainerCreating',
      `MountVolume.SetUp failed for volume "${volume}" : hostPath type check failed: ${path} is not ${what}`,
    );
  };
  if (type === 'Directory' && !(existsSync(host) && statSync(host).isDirectory()))
    fail('a directory');
  if (type === 'File' && !(existsSync(host) && statSync(host).isFile())) fail('a file');
  if (type === 'FileOrCreate') {
    if (!existsSync(host)) {
      mkdirSync(join(host, '..'), { recursive: true });
      writeFileSync(host, '', { mode: 0o644 });
    }
  } else if (type === '' || type === 'DirectoryOrCreate') {
    mkdirSync(host, { recursive: true, mode: 0o755 });
  }
  return host;
}

/**
 * The directory behind a claim: its bound PV's `local`/`hostPath` path on the node, an `nfs`
 * export under the shared `nfsDir`, else (other sources) a per-claim directory.
 */
function claimDir(
  store: ObjectStore,
  ns: string,
  claimName: string,
  dirs: { nodeDir: string; claimsDir: string; nfsDir: string },
): string {
  const claim = store.get('persistentvolumeclaims', ns, claimName);
  const pv = claim?.spec?.volumeName
    ? store.get('persistentvolumes', undefined, claim.spec.volumeName)
    : undefined;
  if (!pv || claim?.status?.phase !== 'Bound') {
    throw new ContainerConfigError(
      'ContainerCreating',
      `persistentvolumeclaim "${claimName}" is not bound`,
    );
  }
  const spec = pv.spec as Obj;
  if (spec.local) {
    const dir = join(dirs.nodeDir, String(spec.local.path));
    if (!existsSync(dir)) {
      throw new ContainerConfigError(
        'ContainerCreating',
        `MountVolume.NewMounter initialization failed for volume "${pv.metadata.name}" : path "${spec.local.path}" does not exist`,
      );
    }
    return dir;
  }
  if (spec.hostPath)
    return hostPathDir(
      pv.metadata.name!,
      spec.hostPath.path,
      spec.hostPath.type ?? '',
      dirs.nodeDir,
    );
  const dir = spec.nfs
    ? join(dirs.nfsDir, String(spec.nfs.server), String(spec.nfs.path))
    : join(dirs.claimsDir, ns, claimName);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Materializes the pod's volumes: hostPath → `<nodeDir>/<path>`, emptyDir/configMap/secret →
 * under `podDir`, persistentVolumeClaim → its bound PV's directory (see claimDir).
 */
export function prepareVolumes(
  store: ObjectStore,
  pod: KubeObject,
  nodeDir: string,
  podDir: string,
  claimsDir: string,
  nfsDir: string,
): VolumeDirs {
  const ns = pod.metadata.namespace ?? 'default';
  const dirs: VolumeDirs = {};
  for (const v of (pod.spec?.volumes ?? []) as Obj[]) {
    const name = String(v.name);
    if (v.hostPath) {
      dirs[name] = hostPathDir(name, String(v.hostPath.path), v.hostPath.type ?? '', nodeDir);
    } else if (v.persistentVolumeClaim) {
      const claim = String(v.persistentVolumeClaim.claimName);
      dirs[name] = claimDir(store, ns, claim, { nodeDir, claimsDir, nfsDir });
    } else {
      const dir = join(podDir, 'volumes', name);
      mkdirSync(dir, { recursive: true });
      const src = v.configMap ?? v.secret;
      if (src) {
        const kind = v.configMap ? 'configmaps' : 'secrets';
        const refName = String(v.configMap ? src.name : src.secretName);
        const o = store.get(kind, ns, refName);
        if (!o && src.optional !== true) {
          throw new ContainerConfigError(
            'ContainerCreating',
            `MountVolume.SetUp failed for volume "${name}" : ${kind === 'configmaps' ? 'configmap' : 'secret'} "${refName}" not found`,
          );
        }
        const data = (o?.data ?? {}) as Record<string, string>;
        const items =
          (src.items as Array<{ key: string; path: string }> | undefined) ??
          Object.keys(data).map((k) => ({ key: k, path: k }));
        for (const it of items) {
          if (!(it.key in data)) continue;
          const file = join(dir, it.path);
          mkdirSync(join(file, '..'), { recursive: true });
          writeFileSync(file, v.secret ? Buffer.from(data[it.key]!, 'base64') : data[it.key]!);
        }
      }
      dirs[name] = dir;
    }
  }
  return dirs;
}
