/**
 * Storage settings kept in a Secret (issue 19 §5): a Secret loaded through `envFrom` wins over
 * the ConfigMap loaded before it, and a `valueFrom.secretKeyRef` entry wins over both. When the
 * operator names that Secret (`settings-secret`), the cutover writes the S3 settings there, where
 * the values live: every storage key the converted containers read from it gets our value, the
 * OpenDAL keys go, and a Secret that selects STORAGE_TYPE through envFrom receives every S3
 * setting. Credentials are never written here (they come from the cutover's own Secret, whose
 * `env` references win over any `envFrom`). Unnamed, such a Secret makes the plan refuse
 * (storage-safety.ts).
 */
import { isLocalStorageKey, type ConfigMapKeyChange } from './configmap.js';
import { STORAGE_SETTING_KEYS } from './convert.js';
import type { InstallInspection } from './inspect.js';
import type { V1Container, V1PodSpec } from './types.js';

export const SETTINGS_SECRET_UNUSABLE = 'settings-secret-unusable';

export interface SettingsSecretPatch {
  /** The Secret's storage keys as the plan leaves them (credentials as a placeholder). */
  data: Record<string, string>;
  /** Key by key, what the cutover changes in the Secret. */
  changes: ConfigMapKeyChange[];
}

function containersOf(spec: V1PodSpec | undefined): V1Container[] {
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

/** The new value of each key of the Secret the converted containers read, per their references. */
function desiredKeys(
  container: V1Container,
  name: string,
  current: Record<string, string>,
  expected: Record<string, string>,
  desired: Record<string, string | undefined>,
): void {
  for (const from of container.envFrom ?? []) {
    if (from.secretRef?.name !== name) continue;
    const prefix = from.prefix ?? '';
    for (const key of Object.keys(current)) {
      const variable = `${prefix}${key}`;
      if (isLocalStorageKey(variable)) desired[key] = undefined;
      else if (variable in expected) desired[key] = expected[variable];
    }
    // The Secret selects the storage type: it carries every S3 setting, as a ConfigMap would.
    const typeKey = 'STORAGE_TYPE'.startsWith(prefix) ? 'STORAGE_TYPE'.slice(prefix.length) : '';
    if (typeKey && typeKey in current) {
      for (const [variable, value] of Object.entries(expected))
        if (variable.startsWith(prefix)) desired[variable.slice(prefix.length)] = value;
    }
  }
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref?.name === name && STORAGE_SETTING_KEYS.has(e.name) && e.name in expected)
      desired[ref.key] = expected[e.name];
  }
}

/**
 * What the cutover writes into the named settings Secret, from the references of the workloads
 * it converts; undefined when the Secret is missing or no converted workload reads it.
 */
export function settingsSecretPatch(
  inspection: InstallInspection,
  name: string,
  expected: Record<string, string>,
): SettingsSecretPatch | undefined {
  const current = inspection.secretSettings[name];
  const readers = [inspection.api, inspection.worker].filter(
    (w) => w.statefulSet && w.secrets.includes(name),
  );
  if (!current || readers.length === 0) return undefined;
  const desired: Record<string, string | undefined> = {};
  for (const w of readers)
    for (const c of containersOf(w.statefulSet?.spec?.template?.spec))
      desiredKeys(c, name, current, expected, desired);
  const data = { ...current };
  const changes: ConfigMapKeyChange[] = [];
  for (const [key, after] of Object.entries(desired)) {
    const before = current[key];
    if (after === undefined) {
      if (before === undefined) continue;
      delete data[key];
      changes.push({ key, change: 'removed', before });
    } else if (before !== after) {
      data[key] = after;
      changes.push(
        before === undefined
          ? { key, change: 'added', after }
          : { key, change: 'changed', before, after },
      );
    }
  }
  changes.sort((a, b) => a.key.localeCompare(b.key));
  return { data, changes };
}

/** The plan's finding when the named settings Secret cannot carry the settings. */
export function settingsSecretProblem(inspection: InstallInspection, name: string): string {
  const exists = name in inspection.secretSettings;
  return exists
    ? `Secret "${name}" was named in settings-secret, but neither ${inspection.api.name} nor ${inspection.worker.name} (as StatefulSets) reads it: the cutover would change nothing there.`
    : `Secret "${name}" was named in settings-secret, but it does not exist or is not referenced by ${inspection.api.name} or ${inspection.worker.name}.`;
}

/** Applies the planned key changes to a Secret's (base64) data; untouched keys stay byte for byte. */
export function patchSecretData(
  data: Record<string, string> | undefined,
  changes: ConfigMapKeyChange[],
): Record<string, string> {
  const out = { ...(data ?? {}) };
  for (const c of changes) {
    if (c.change === 'removed') delete out[c.key];
    else out[c.key] = Buffer.from(c.after ?? '', 'utf8').toString('base64');
  }
  return out;
}
