/**
 * In-memory object storage of the fake API server: objects keyed by resource, namespace and name,
 * a global monotonic resourceVersion, and a change feed (with a short history for watches).
 * It applies no API semantics (see api-operations.ts); tests and the simulator may use it directly.
 */
import { randomUUID } from 'node:crypto';
import type { ResourceType } from './resources.js';
import { qualifiedName, resolveResource } from './resources.js';
import type { Loose } from './json.js';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    finalizers?: string[];
    [key: string]: unknown;
  };
  spec?: Record<string, unknown> & { [key: string]: Loose };
  status?: Record<string, unknown> & { [key: string]: Loose };
  [key: string]: Loose;
};

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  resource: ResourceType;
  /** A copy of the object (for DELETED: its last state, with a fresh resourceVersion). */
  object: KubeObject;
  resourceVersion: number;
}

export type StoreListener = (event: StoreEvent) => void;

const HISTORY = 5000;

export function rfc3339(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

export class ObjectStore {
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly listeners = new Set<StoreListener>();
  private readonly history: StoreEvent[] = [];
  private rv = 1000;

  /** The last resourceVersion handed out (a list's metadata.resourceVersion). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** The oldest resourceVersion a watch can still resume from. */
  get oldestWatchableVersion(): number {
    return this.history[0] ? this.history[0].resourceVersion - 1 : this.rv;
  }

  private bucket(r: ResourceType): Map<string, KubeObject> {
    const key = qualifiedName(r);
    let b = this.objects.get(key);
    if (!b) {
      b = new Map();
      this.objects.set(key, b);
    }
    return b;
  }

  private static key(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  private res(r: ResourceType | string): ResourceType {
    return typeof r === 'string' ? resolveResource(r) : r;
  }

  get(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
  ): KubeObject | undefined {
    const r = this.res(resource);
    const o = this.bucket(r).get(ObjectStore.key(r.namespaced ? namespace : undefined, name));
    return o ? clone(o) : undefined;
  }

  /** All objects of a resource, in one namespace or (namespace undefined) in all, sorted by namespace/name. */
  list(resource: ResourceType | string, namespace?: string): KubeObject[] {
    const r = this.res(resource);
    return [...this.bucket(r).entries()]
      .filter(
        ([, o]) => namespace === undefined || !r.namespaced || o.metadata.namespace === namespace,
      )
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
  }

  /** Every object of every resource, or of the namespaced ones in one namespace. */
  listAll(namespace?: string): Array<{ resource: ResourceType; object: KubeObject }> {
    const out: Array<{ resource: ResourceType; object: KubeObject }> = [];
    for (const key of this.objects.keys()) {
      const r = resolveResource(key);
      if (namespace !== undefined && !r.namespaced) continue;
      for (const object of this.list(r, namespace)) out.push({ resource: r, object });
    }
    return out;
  }

  /**
   * Stores a new object. Fills uid, creationTimestamp and resourceVersion (apiVersion/kind too)
   * when absent; throws if it exists.
   */
  create(resource: ResourceType | string, object: KubeObject): KubeObject {
    const r = this.res(resource);
    const o = clone(object);
    const name = o.metadata.name;
    if (!name) throw new Error('store.create: metadata.name is required');
    if (!r.namespaced) delete o.metadata.namespace;
    const k = ObjectStore.key(r.namespaced ? o.metadata.namespace : undefined, name);
    if (this.bucket(r).has(k)) throw new Error(`store.create: ${qualifiedName(r)} ${k} exists`);
    o.apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
    o.kind = r.kind;
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= rfc3339();
    o.metadata.resourceVersion = String(++this.rv);
    this.bucket(r).set(k, o);
    this.emit('ADDED', r, o);
    return clone(o);
  }

  /** Replaces an existing object wholesale with a new resourceVersion; throws if missing. */
  update(resource: ResourceType | string, object: KubeObject): KubeObject {
    const r = this.res(resource);
    const o = clone(object);
    const name = o.metadata.name ?? '';
    const k = ObjectStore.key(r.namespaced ? o.metadata.namespace : undefined, name);
    const old = this.bucket(r).get(k);
    if (!old) throw new Error(`store.update: ${qualifiedName(r)} ${k} not found`);
    o.apiVersion = old.apiVersion;
    o.kind = old.kind;
    o.metadata.uid = old.metadata.uid;
    o.metadata.creationTimestamp = old.metadata.creationTimestamp;
    o.metadata.resourceVersion = String(++this.rv);
    this.bucket(r).set(k, o);
    this.emit('MODIFIED', r, o);
    return clone(o);
  }

  /** Read-modify-write of the status only (as controllers PUT /status). No event when unchanged. */
  updateStatus(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
  ): KubeObject | undefined {
    const cur = this.get(resource, namespace, name);
    if (!cur) return undefined;
    if (JSON.stringify(cur.status ?? {}) === JSON.stringify(status)) return cur;
    cur.status = clone(status);
    return this.update(resource, cur);
  }

  remove(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
  ): KubeObject | undefined {
    const r = this.res(resource);
    const k = ObjectStore.key(r.namespaced ? namespace : undefined, name);
    const old = this.bucket(r).get(k);
    if (!old) return undefined;
    this.bucket(r).delete(k);
    old.metadata.resourceVersion = String(++this.rv);
    this.emit('DELETED', r, old);
    return clone(old);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events with resourceVersion > `after`, for watches resuming from a list. */
  eventsSince(after: number): StoreEvent[] {
    return this.history.filter((e) => e.resourceVersion > after);
  }

  private emit(type: EventType, r: ResourceType, o: KubeObject): void {
    const event: StoreEvent = { type, resource: r, object: clone(o), resourceVersion: this.rv };
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    for (const l of [...this.listeners]) {
      try {
        l({ ...event, object: clone(event.object) });
      } catch (err) {
        // A listener's bug must not corrupt the store; surface it without throwing into the writer.
        process.emitWarning(`store listener failed: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }
}
