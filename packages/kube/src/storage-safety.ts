/**
 * The safety rule of a cutover plan: once the planned changes are made, every converted container
 * must see STORAGE_TYPE=s3 and exactly our S3 settings and credentials. A value set anywhere the
 * plan does not change (a Secret through envFrom, another ConfigMap loaded later) wins over the
 * ConfigMap change, and Dify would keep writing to its local directory — an emptyDir after the
 * conversion, so those files would vanish with the pod. The plan refuses and names the winner.
 */
import { S3_CREDENTIAL_KEYS } from './configmap.js';
import { usesStorageSettings, type ConversionOptions } from './convert.js';
import { looksSecret, REDACTED } from './diff.js';
import { describeEnvSource, effectiveEnv, type EnvObjectLookup } from './env.js';
import type { Finding, WorkloadInspection } from './inspect.js';
import type { V1Container, Workload } from './types.js';

export const STORAGE_OVERRIDDEN = 'storage-setting-overridden';

export interface SafetyInput {
  workload: WorkloadInspection;
  /** The Deployment the plan creates for it. */
  deployment: Workload;
  options: ConversionOptions;
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
    const inits = new Set(
      (workload.statefulSet?.spec?.template?.spec?.initContainers ?? []).map((c) => c.name),
    );
    for (const container of containersOf(deployment)) {
      const old = original.find((c) => c.name === container.name);
      const readsStorage =
        (old && usesStorageSettings(old, options, !inits.has(old.name))) ||
        (old && effectiveEnv(old, before).has('STORAGE_TYPE'));
      if (!readsStorage) continue;
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
      findings.push({
        code: STORAGE_OVERRIDDEN,
        severity: 'blocker',
        message: `After the planned change, container "${container.name}" of "${workload.name}" would still get ${wrong.join('; ')}: that source wins over what the cutover changes, so Dify would not use the bucket (files written to the emptyDir vanish with the pod). Set these keys where they win (or remove them there) and plan again.`,
      });
    }
  }
  return findings;
}
