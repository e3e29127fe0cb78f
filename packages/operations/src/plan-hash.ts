import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { InstallInspection, WorkloadInspection } from '@dify-storage/kube';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** The form of a plan hash: `ph-` and 24 hex digits. */
export const PLAN_HASH = /^ph-[0-9a-f]{24}$/;

/** JSON with object keys sorted, so equal objects give equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function workload(w: WorkloadInspection): unknown {
  return {
    name: w.name,
    state: w.state,
    statefulSet: w.statefulSet?.spec,
    deployment: w.deployment?.spec,
  };
}

/**
 * The key of plan hashes: 32 random bytes in the state directory (0600), created once, never
 * through a symlink. It stays on the node: the hash covers ConfigMap values (secrets among them),
 * and an HMAC under a key nobody else has gives away nothing about them.
 */
function planHashKey(stateDir: string): Buffer {
  const file = path.join(stateDir, 'plan-hash.key');
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  try {
    const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, randomBytes(32));
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A hash of what the cutover will change, as read from the cluster: both workloads' specs, the
 * storage ConfigMap's data and the referenced Secrets' names. A plan approved by dispatching
 * (no required reviewers) names it; the cutover recomputes it and refuses when the cluster drifted.
 */
export function planHash(inspection: InstallInspection, stateDir: string): string {
  const cm = inspection.configMaps.find((c) => c.name === inspection.storageConfigMap);
  const planned = {
    namespace: inspection.namespace,
    api: workload(inspection.api),
    worker: workload(inspection.worker),
    configMap: cm?.object?.data ?? null,
    secrets: [...inspection.secrets].sort(),
  };
  const mac = createHmac('sha256', planHashKey(stateDir)).update(canonical(planned));
  return `ph-${mac.digest('hex').slice(0, 24)}`;
}
