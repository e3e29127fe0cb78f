/** Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for without `-o`. */
import type { Obj } from './json.js';
import type { ResourceType } from './resources.js';
import type { KubeObject } from './store.js';

interface Column {
  name: string;
  type?: string;
  priority?: number;
  cell: (o: KubeObject) => string | number;
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

const name: Column = { name: 'Name', cell: (o) => o.metadata.name ?? '' };
const age: Column = {
  name: 'Age',
  cell: (o) =>
    o.metadata.creationTimestamp
      ? humanDuration(Date.now() - Date.parse(o.metadata.creationTimestamp))
      : '<unknown>',
};
const n = (v: unknown): number => (typeof v === 'number' ? v : 0);

function podStatus(p: KubeObject): string {
  if (p.metadata.deletionTimestamp) return 'Terminating';
  for (const c of (p.status?.containerStatuses ?? []) as Obj[]) {
    if (c.state?.waiting?.reason) return c.state.waiting.reason;
    if (c.state?.terminated?.reason) return c.state.terminated.reason;
  }
  return p.status?.phase ?? 'Pending';
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    name,
    {
      name: 'Ready',
      cell: (p) => {
        const cs = (p.status?.containerStatuses ?? []) as Obj[];
        return `${cs.filter((c) => c.ready).length}/${(p.spec?.containers ?? []).length}`;
      },
    },
    { name: 'Status', cell: podStatus },
    {
      name: 'Restarts',
      type: 'string',
      cell: (p) =>
        String(
          ((p.status?.containerStatuses ?? []) as Obj[]).reduce((a, c) => a + n(c.restartCount), 0),
        ),
    },
    age,
    { name: 'IP', priority: 1, cell: (p) => p.status?.podIP ?? '<none>' },
    { name: 'Node', priority: 1, cell: (p) => p.spec?.nodeName ?? '<none>' },
  ],
  Deployment: [
    name,
    { name: 'Ready', cell: (d) => `${n(d.status?.readyReplicas)}/${n(d.spec?.replicas)}` },
    { name: 'Up-to-date', type: 'integer', cell: (d) => n(d.status?.updatedReplicas) },
    { name: 'Available', type: 'integer', cell: (d) => n(d.status?.availableReplicas) },
    age,
    {
      name: 'Containers',
      priority: 1,
      cell: (d) =>
        ((d.spec?.template?.spec?.containers ?? []) as Obj[]).map((c) => c.name).join(','),
    },
    {
      name: 'Images',
      priority: 1,
      cell: (d) =>
        ((d.spec?.template?.spec?.containers ?? []) as Obj[]).map((c) => c.image).join(','),
    },
  ],
  StatefulSet: [
    name,
    { name: 'Ready', cell: (s) => `${n(s.status?.readyReplicas)}/${n(s.spec?.replicas)}` },
    age,
  ],
  ReplicaSet: [
    name,
    { name: 'Desired', type: 'integer', cell: (r) => n(r.spec?.replicas) },
    { name: 'Current', type: 'integer', cell: (r) => n(r.status?.replicas) },
    { name: 'Ready', type: 'integer', cell: (r) => n(r.status?.readyReplicas) },
    age,
  ],
  Service: [
    name,
    { name: 'Type', cell: (s) => s.spec?.type ?? 'ClusterIP' },
    { name: 'Cluster-IP', cell: (s) => s.spec?.clusterIP ?? '<none>' },
    { name: 'External-IP', cell: () => '<none>' },
    {
      name: 'Port(s)',
      cell: (s) =>
        ((s.spec?.ports ?? []) as Obj[]).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') ||
        '<none>',
    },
    age,
  ],
  Namespace: [name, { name: 'Status', cell: (ns) => ns.status?.phase ?? 'Active' }, age],
  ConfigMap: [
    name,
    {
      name: 'Data',
      type: 'integer',
      cell: (c) => Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
    },
    age,
  ],
  Secret: [
    name,
    { name: 'Type', cell: (s) => s.type ?? 'Opaque' },
    { name: 'Data', type: 'integer', cell: (s) => Object.keys(s.data ?? {}).length },
    age,
  ],
  Event: [
    {
      name: 'Last Seen',
      cell: (e) =>
        e.lastTimestamp ? humanDuration(Date.now() - Date.parse(e.lastTimestamp)) : '<unknown>',
    },
    { name: 'Type', cell: (e) => e.type ?? '' },
    { name: 'Reason', cell: (e) => e.reason ?? '' },
    {
      name: 'Object',
      cell: (e) =>
        `${String(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}`,
    },
    { name: 'Message', cell: (e) => e.message ?? '' },
  ],
  Lease: [name, { name: 'Holder', cell: (l) => l.spec?.holderIdentity ?? '' }, age],
};

/** True when the Accept header asks for a Table (as kubectl get does). */
export function wantsTable(accept: string | undefined): boolean {
  return /as=Table/.test(accept ?? '') && /g=meta\.k8s\.io/.test(accept ?? '');
}

export function toTable(
  r: ResourceType,
  items: KubeObject[],
  resourceVersion: string,
): Record<string, unknown> {
  const cols = COLUMNS[r.kind] ?? [name, age];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type ?? 'string',
      format: c === name ? 'name' : '',
      description: '',
      priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
