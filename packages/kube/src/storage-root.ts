/**
 * Where Dify 1.3.0 really keeps its files inside the container, from the effective env
 * (dify-1.3.0-fidelity.md §4): STORAGE_TYPE defaults to `opendal` (api/configs/middleware/
 * __init__.py:47-65), OPENDAL_SCHEME to `fs`; its root is OPENDAL_FS_ROOT (docker default
 * `storage`, .env.example:307), or with the deprecated STORAGE_TYPE=local, STORAGE_LOCAL_PATH
 * (default `storage`, ext_storage.py:28-35). A relative root is relative to the process CWD
 * (OpenDAL canonicalizes it, fs/backend.rs:84-131), the image's WORKDIR /app/api
 * (api/Dockerfile:40) unless the container sets `workingDir`.
 */
import path from 'node:path';
import { describeEnvSource, effectiveEnv, type EffectiveEnv, type EnvObjectLookup } from './env.js';
import type { Finding, InstallInspection, WorkloadInspection } from './inspect.js';
import type { V1Container } from './types.js';

export const STORAGE_ROOT_OUTSIDE = 'storage-root-not-the-mount';

export interface StorageRoot {
  /** Absolute path in the container. */
  root: string;
  /** Which variable set it, and where from; or the default. */
  from: string;
}

/** The local storage root of a container's env; undefined when Dify does not store locally. */
export function effectiveStorageRoot(
  env: EffectiveEnv,
  workingDir = '/app/api',
): StorageRoot | undefined {
  const value = (name: string) => env.get(name)?.value;
  const type = value('STORAGE_TYPE') || 'opendal';
  let variable: string;
  if (type === 'local') variable = 'STORAGE_LOCAL_PATH';
  else if (type === 'opendal' && (value('OPENDAL_SCHEME') || 'fs') === 'fs')
    variable = 'OPENDAL_FS_ROOT';
  else return undefined;
  const set = env.get(variable);
  const raw = set?.value || 'storage';
  return {
    root: path.posix.resolve(workingDir, raw),
    from: set?.value
      ? `${variable}=${JSON.stringify(set.value)} from ${describeEnvSource(set.source)}`
      : `${variable} unset (default "storage")`,
  };
}

/** ConfigMaps and Secrets as the inspection read them. */
function lookupOf(i: InstallInspection): EnvObjectLookup {
  return (kind, name) =>
    kind === 'ConfigMap'
      ? i.configMaps.find((c) => c.name === name)?.object?.data
      : i.secretSettings[name];
}

function containersOf(w: WorkloadInspection): V1Container[] {
  const spec = (w.statefulSet ?? w.deployment)?.spec?.template?.spec;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

/**
 * A blocker for each container that mounts the storage volume but whose effective storage root
 * is not that mount: the copy would take the mounted directory while Dify reads and writes
 * elsewhere (another volume, the container's own filesystem, or a sub-directory, whose keys
 * would then carry an extra prefix).
 */
export function storageRootFindings(i: InstallInspection): Finding[] {
  const lookup = lookupOf(i);
  const mount = path.posix.resolve(i.storageMountPath);
  const findings: Finding[] = [];
  for (const w of [i.api, i.worker]) {
    if (!w.storage || w.state === 'deployment') continue;
    for (const c of containersOf(w)) {
      if (!(c.volumeMounts ?? []).some((m) => m.name === w.storage!.volumeName)) continue;
      const root = effectiveStorageRoot(effectiveEnv(c, lookup), c.workingDir || undefined);
      if (!root || root.root === mount) continue;
      const inside = root.root.startsWith(`${mount}/`);
      findings.push({
        code: STORAGE_ROOT_OUTSIDE,
        severity: 'blocker',
        message: `Container "${c.name}" of "${w.name}" keeps Dify's files in ${root.root} (${root.from}), ${inside ? `a sub-directory of the mount ${mount}: the copy of the mount would give every key the extra prefix ${JSON.stringify(path.posix.relative(mount, root.root) + '/')}` : `which is not inside the storage mount ${mount} being copied: those files would be left behind`}. Point 'storage-mount-path' (and 'storage-path') at the directory Dify really uses, or fix the setting, then plan again.`,
      });
    }
  }
  return findings;
}
