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

/**
 * Materializes the pod's volumes: hostPath → `<nodeDir>/<path>`, emptyDir/configMap/secret →
 * under `podDir`, persistentVolumeClaim → `<claimsDir>/<namespace>/<claim>`.
 */
export function prepareVolumes(
  store: ObjectStore,
  pod: KubeObject,
  nodeDir: string,
  podDir: string,
  claimsDir: string,
): VolumeDirs {
  const ns = pod.metadata.namespace ?? 'default';
  const dirs: VolumeDirs = {};
  for (const v of (pod.spec?.volumes ?? []) as Obj[]) {
    const name = String(v.name);
    if (v.hostPath) {
      const host = join(nodeDir, String(v.hostPath.path));
      const type = v.hostPath.type ?? '';
      const fail = (what: string): never => {
        throw new ContainerConfigError(
          'ContainerCreating',
          `MountVolume.SetUp failed for volume "${name}" : hostPath type check failed: ${v.hostPath.path} is not ${what}`,
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
      dirs[name] = host;
    } else if (v.persistentVolumeClaim) {
      const dir = join(claimsDir, ns, String(v.persistentVolumeClaim.claimName));
      mkdirSync(dir, { recursive: true });
      dirs[name] = dir;
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
