/** core/v1 Events written the way controllers and the kubelet record them (deduplicated with a count). */
import { randomBytes } from 'node:crypto';
import type { KubeObject, ObjectStore } from './store.js';
import { rfc3339 } from './store.js';

export interface SimulatorEvent {
  time: string;
  namespace: string;
  object: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export class EventRecorder {
  private readonly recent: SimulatorEvent[] = [];
  private readonly names = new Map<string, string>();

  constructor(private readonly store: ObjectStore) {}

  list(): SimulatorEvent[] {
    return [...this.recent];
  }

  record(
    o: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
  ): void {
    const ns = o.metadata.namespace ?? 'default';
    const now = rfc3339();
    const last = this.recent[this.recent.length - 1];
    const object = `${o.kind}/${o.metadata.name}`;
    if (!(last && last.object === object && last.reason === reason && last.message === message)) {
      this.recent.push({ time: now, namespace: ns, object, type, reason, message });
      if (this.recent.length > 1000) this.recent.shift();
    }
    const namespace = this.store.get('namespaces', undefined, ns);
    if (!namespace || namespace.metadata.deletionTimestamp) return;
    const key = `${o.metadata.uid}|${reason}|${message}`;
    const existingName = this.names.get(key);
    const existing = existingName ? this.store.get('events', ns, existingName) : undefined;
    if (existing) {
      existing.count = (existing.count ?? 1) + 1;
      existing.lastTimestamp = now;
      this.store.update('events', existing);
      return;
    }
    const name = `${o.metadata.name}.${randomBytes(8).toString('hex')}`;
    this.names.set(key, name);
    this.store.create('events', {
      metadata: { name, namespace: ns },
      involvedObject: {
        kind: o.kind,
        namespace: ns,
        name: o.metadata.name,
        uid: o.metadata.uid,
        apiVersion: o.apiVersion,
        resourceVersion: o.metadata.resourceVersion,
      },
      reason,
      message,
      source: { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: component,
      reportingInstance: '',
    });
  }
}
