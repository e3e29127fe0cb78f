/**
 * The environment a container actually gets, with the kubelet's precedence
 * (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables): `envFrom` sources in order, a later
 * source overriding an earlier one; then `env` entries in order, overriding `envFrom` (and a
 * later duplicate overriding an earlier one); `$(VAR)` in literal values expands against what
 * is defined so far. Every variable carries the source it came from, so a plan can change the
 * value where it is set and name the winner when it cannot.
 */
import type { V1Container } from './types.js';

export interface EnvSource {
  /** `value`: a literal in `env`; ConfigMap/Secret: a key of that object; field: fieldRef/resourceFieldRef. */
  kind: 'value' | 'ConfigMap' | 'Secret' | 'field';
  /** The object's name (ConfigMap/Secret). */
  name?: string;
  /** The key in the object. */
  key?: string;
  /** Through `envFrom` (whole object) or `env` (one entry). */
  via: 'env' | 'envFrom';
}

export interface EffectiveEnvVar {
  name: string;
  /** undefined when the value cannot be known here (fieldRef, an unreadable object). */
  value: string | undefined;
  source: EnvSource;
}

/** Reads a ConfigMap's data or a Secret's decoded data; undefined when the object is missing. */
export type EnvObjectLookup = (
  kind: 'ConfigMap' | 'Secret',
  name: string,
) => Record<string, string> | undefined;

export type EffectiveEnv = Map<string, EffectiveEnvVar>;

/** `$(VAR)` expansion against earlier variables; `$$` is a literal `$` (expansion.go). */
function expand(value: string, env: EffectiveEnv): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name?: string) => {
    if (all === '$$') return '$';
    const v = name !== undefined ? env.get(name)?.value : undefined;
    return v ?? all;
  });
}

/** The container's effective environment, in Kubernetes precedence, with the source of each value. */
export function effectiveEnv(container: V1Container, lookup: EnvObjectLookup): EffectiveEnv {
  const env: EffectiveEnv = new Map();
  for (const from of container.envFrom ?? []) {
    const kind = from.configMapRef ? 'ConfigMap' : from.secretRef ? 'Secret' : undefined;
    const name = from.configMapRef?.name ?? from.secretRef?.name;
    if (!kind || !name) continue;
    for (const [key, value] of Object.entries(lookup(kind, name) ?? {})) {
      const varName = `${from.prefix ?? ''}${key}`;
      env.set(varName, { name: varName, value, source: { kind, name, key, via: 'envFrom' } });
    }
  }
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
    if (ref) {
      const kind = e.valueFrom?.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const data = lookup(kind, ref.name ?? '');
      // An optional reference to a missing object or key sets nothing (the earlier value stays).
      if ((data === undefined || !(ref.key in data)) && ref.optional) continue;
      const source: EnvSource = { kind, name: ref.name ?? '', key: ref.key, via: 'env' };
      env.set(e.name, { name: e.name, value: data?.[ref.key], source });
    } else if (e.valueFrom) {
      env.set(e.name, { name: e.name, value: undefined, source: { kind: 'field', via: 'env' } });
    } else {
      const value = expand(e.value ?? '', env);
      env.set(e.name, { name: e.name, value, source: { kind: 'value', via: 'env' } });
    }
  }
  return env;
}

/** `Secret "dify-env" (envFrom)`, `ConfigMap "x" key K (env valueFrom)`, `an inline value`. */
export function describeEnvSource(source: EnvSource): string {
  if (source.kind === 'value') return 'an inline env value';
  if (source.kind === 'field') return 'an inline fieldRef';
  return source.via === 'envFrom'
    ? `${source.kind} "${source.name}" (envFrom)`
    : `${source.kind} "${source.name}" key ${source.key} (env valueFrom)`;
}
