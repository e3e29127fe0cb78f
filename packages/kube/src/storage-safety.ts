/**
 * The safety rule of a cutover plan: once the planned changes are made, every converted container
 * must see STORAGE_TYPE=s3 and exactly our S3 settings and credentials. A value set anywhere the
 * plan does not change (a Secret through envFrom, another ConfigMap loaded later) wins over the
 * ConfigMap change, and Dify would keep writing to its local directory — an emptyDir after the
 * conversion, so those files would vanish with the pod. The plan refuses and names the winner.
 */
import { isLocalStorageKey, S3_CREDENTIAL_KEYS } from './configmap.js';
import { usesStorageSettings, type ConversionOptions } from './convert.js';
import { looksSecret, REDACTED } from './diff.js';
import {
  describeEnvSource,
  effectiveEnv,
  type EffectiveEnvVar,
  type EnvObjectLookup,
} from './env.js';
import type { Finding, WorkloadInspection } from './inspect.js';
import type { V1Container, Workload } from './types.js';

export const STORAGE_OVERRIDDEN = 'storage-setting-overridden';

export interface SafetyInput {
  workload: WorkloadInspection;
  /** The Deployment the plan creates for it. */
  deployment: Workload;
  options: ConversionOptions;
}

export interface SettingSource {
  workload: string;
  container: string;
  key: string;
  /** Value (allowlisted keys only; else redacted) and where it comes from, now and after. */
  before?: { value: string; from: string };
  after?: { value: string; from: string };
}

/** Whether a converted container reads the storage settings (the safety rule's scope). */
function readsStorage(
  input: SafetyInput,
  old: V1Container | undefined,
  before: EnvObjectLookup,
): boolean {
  const inits = new Set(
    (input.workload.statefulSet?.spec?.template?.spec?.initContainers ?? []).map((c) => c.name),
  );
  return (
    !!old &&
    (usesStorageSettings(old, input.options, !inits.has(old.name)) ||
      effectiveEnv(old, before).has('STORAGE_TYPE'))
  );
}

/**
 * Where each storage setting of each converted container comes from now and after the planned
 * change, for the plan: the keys we set, the credentials and the local keys it had.
 */
export function settingSources(
  inputs: SafetyInput[],
  expected: Record<string, string>,
  before: EnvObjectLookup,
  after: EnvObjectLookup,
): SettingSource[] {
  const rows: SettingSource[] = [];
  const shown = (v: EffectiveEnvVar | undefined) =>
    v && {
      value: looksSecret(v.name) ? REDACTED : (v.value ?? '(unknown)'),
      from: describeEnvSource(v.source),
    };
  for (const input of inputs) {
    const original = containersOf(input.workload.statefulSet);
    for (const container of containersOf(input.deployment)) {
      const old = original.find((c) => c.name === container.name);
      if (!old || !readsStorage(input, old, before)) continue;
      const now = effectiveEnv(old, before);
      const then = effectiveEnv(container, after);
      const keys = [
        ...Object.keys(expected),
        ...S3_CREDENTIAL_KEYS,
        ...[...now.keys()].filter((k) => isLocalStorageKey(k)),
      ];
      for (const key of keys) {
        const b = shown(now.get(key));
        const a = shown(then.get(key));
        rows.push({
          workload: input.workload.name,
          container: container.name,
          key,
          ...(b ? { before: b } : {}),
          ...(a ? { after: a } : {}),
        });
      }
    }
  }
  return rows;
}

function containersOf(w: Workload | undefined): V1Container[] {
  const spec = w?.spec?.template?.spec;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

/**
 * Blockers for every converted container whose effective storage settings, after the planned
 * change (`after` looks objects up as the plan leaves them), are not `expected` (our settings)
 * plus the credentials from our Secret.
 */
export function storageSafetyFindings(
  inputs: SafetyInput[],
  expected: Record<string, string>,
  secretName: string,
  before: EnvObjectLookup,
  after: EnvObjectLookup,
): Finding[] {
  const findings: Finding[] = [];
  for (const { workload, deployment, options } of inputs) {
    const original = containersOf(workload.statefulSet);
    for (const container of containersOf(deployment)) {
      const old = original.find((c) => c.name === container.name);
      if (!readsStorage({ workload, deployment, options }, old, before)) continue;
      const env = effectiveEnv(container, after);
      const wrong: string[] = [];
      for (const [key, value] of Object.entries(expected)) {
        const got = env.get(key);
        if (got?.value === value) continue;
        const shown = looksSecret(key) ? REDACTED : JSON.stringify(got?.value ?? null);
        wrong.push(
          got
            ? `${key}=${shown} from ${describeEnvSource(got.source)}`
            : `${key} unset (nothing the plan changes reaches this container)`,
        );
      }
      for (const key of S3_CREDENTIAL_KEYS) {
        const got = env.get(key);
        if (
          got?.source.kind === 'Secret' &&
          got.source.name === secretName &&
          got.source.key === key
        )
          continue;
        wrong.push(`${key} from ${got ? describeEnvSource(got.source) : 'nowhere'}`);
      }
      if (wrong.length === 0) continue;
      const secrets = [...env.values()]
        .filter((v) => v.source.kind === 'Secret' && v.source.name !== secretName)
        .filter((v) => v.name in expected || v.name === 'STORAGE_TYPE')
        .map((v) => v.source.name);
      const hint = secrets.length
        ? ` To have the cutover write the S3 settings into Secret "${secrets[0]}", name it in settings-secret.`
        : '';
      findings.push({
        code: STORAGE_OVERRIDDEN,
        severity: 'blocker',
        message: `After the planned change, container "${container.name}" of "${workload.name}" would still get ${wrong.join('; ')}: that source wins over what the cutover changes, so Dify would not use the bucket (files written to the emptyDir vanish with the pod). Set these keys where they win (or remove them there) and plan again.${hint}`,
      });
    }
  }
  return findings;
}
