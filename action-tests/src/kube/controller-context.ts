/** What the simulated controllers share: the store and API, events, pod create/delete, timing. */
import type { KubeApi } from './api-operations.js';
import type { Obj } from './json.js';
import type { KubeObject, ObjectStore, OwnerReference } from './store.js';
import { stableJson } from './validation.js';

export interface ControllerContext {
  store: ObjectStore;
  api: KubeApi;
  nodes: Record<string, string>;
  defaultNode: string;
  /** Kubernetes seconds → simulated milliseconds (timeScale). */
  scaled(seconds: number): number;
  record(
    o: KubeObject,
    reason: string,
    message: string,
    type?: 'Normal' | 'Warning',
    component?: string,
  ): void;
  /** Creates a controller's pod, recording SuccessfulCreate/FailedCreate; false on failure. */
  createPod(owner: KubeObject, pod: KubeObject): boolean;
  deletePod(p: KubeObject, owner?: KubeObject): void;
  /** Ready for at least minReadySeconds (scaled). */
  available(p: KubeObject, minReadySeconds: number): boolean;
}

const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-1a 32 of the template, rendered like rand.SafeEncodeString(fmt.Sprint(hash)). */
export function templateHash(template: unknown, collisionCount = 0): string {
  let h = 0x811c9dc5;
  const s = stableJson(template) + (collisionCount ? String(collisionCount) : '');
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)]
    .map((ch) => HASH_ALPHABET[ch.charCodeAt(0) % HASH_ALPHABET.length])
    .join('');
}

export function isControlledBy(o: KubeObject, owner: KubeObject): boolean {
  return (o.metadata.ownerReferences ?? []).some(
    (r) => r.controller === true && r.uid === owner.metadata.uid,
  );
}

export function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion ?? 'apps/v1',
    kind: owner.kind ?? '',
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function podReady(p: KubeObject): boolean {
  return (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
}

/** The node a pod template pins to: nodeName, nodeSelector or required node affinity on kubernetes.io/hostname. */
export function pinnedNode(spec: Obj | undefined): string | undefined {
  if (!spec) return undefined;
  if (spec.nodeName) return spec.nodeName;
  const sel = spec.nodeSelector?.['kubernetes.io/hostname'];
  if (sel) return sel;
  const terms =
    spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? [];
  for (const t of terms as Obj[]) {
    for (const e of (t.matchExpressions ?? []) as Obj[]) {
      if (e.key === 'kubernetes.io/hostname' && e.operator === 'In' && e.values?.length)
        return e.values[0];
    }
  }
  return undefined;
}

/** maxUnavailable/maxSurge: an int or a percentage of replicas (rounded down for unavailable, up for surge). */
export function resolveIntOrPercent(v: number | string, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  const m = v.match(/^(\d+)%$/);
  if (!m) return Number(v) || 0;
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}
