/**
 * The PersistentVolume controller and the scheduler's volume binding, reduced to what installs use:
 * static binding (a claim's `volumeName`, else the smallest Available PV of the same class whose
 * access modes and capacity fit), `WaitForFirstConsumer` classes bound once a consumer pod picks a
 * node (PVs whose node affinity admits that node), dynamic provisioning for classes with a
 * provisioner (a node-affine hostPath PV, as rancher's local-path-provisioner makes), and
 * `Released` volumes once their claim is gone. Upstream: pkg/controller/volume/persistentvolume
 * (pv_controller.go syncUnboundClaim/bind) and pkg/scheduler/framework/plugins/volumebinding.
 */
import type { ControllerContext } from './controller-context.js';
import type { Obj } from './json.js';
import type { KubeObject } from './store.js';

export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
const NO_PROVISIONER = 'kubernetes.io/no-provisioner';

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** A resource quantity (`10Gi`, `500M`, `1`) in bytes; NaN when unreadable. */
export function quantityBytes(q: unknown): number {
  const m = String(q ?? '').match(/^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/);
  return m ? Number(m[1]) * UNITS[m[2] ?? '']! : NaN;
}

/** Whether a PV's required node affinity admits a node (nodes carry only kubernetes.io/hostname). */
export function volumeAdmitsNode(pv: KubeObject, node: string): boolean {
  const terms = (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) as Obj[];
  if (terms.length === 0) return true;
  return terms.some((t) =>
    ((t.matchExpressions ?? []) as Obj[]).every((e) => {
      const values = (e.values ?? []) as string[];
      const hostname = e.key === 'kubernetes.io/hostname';
      if (e.operator === 'In') return hostname && values.includes(node);
      if (e.operator === 'NotIn') return !hostname || !values.includes(node);
      return e.operator === 'Exists' ? hostname : !hostname;
    }),
  );
}

export interface VolumeBinder {
  /** Marks new PVs Available, binds Immediate claims, releases PVs whose claim is gone. */
  sync(): void;
  /** Why a pod cannot be scheduled because of its claims, or the nodes its claims allow. */
  podConstraint(pod: KubeObject): { error: string } | { nodes: string[] | undefined };
  /** Binds the pod's WaitForFirstConsumer claims for the node the scheduler chose. */
  bindForNode(pod: KubeObject, node: string): void;
}

export function makeVolumeBinder(ctx: ControllerContext): VolumeBinder {
  const { store, api, record } = ctx;
  const nodeNames = Object.keys(ctx.nodes);

  const classOf = (claim: KubeObject): KubeObject | undefined => {
    const name = claim.spec?.storageClassName;
    if (name === '') return undefined;
    if (name) return store.get('storageclasses', undefined, name);
    return store
      .list('storageclasses')
      .find((sc) => sc.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  };
  const className = (claim: KubeObject): string =>
    claim.spec?.storageClassName ?? classOf(claim)?.metadata.name ?? '';
  const waitsForConsumer = (claim: KubeObject): boolean =>
    classOf(claim)?.volumeBindingMode === 'WaitForFirstConsumer';

  /** Why this PV cannot serve this claim, or undefined when it can. */
  const mismatch = (pv: KubeObject, claim: KubeObject): string | undefined => {
    const ref = pv.spec?.claimRef as Obj | undefined;
    if (ref && (ref.namespace !== claim.metadata.namespace || ref.name !== claim.metadata.name))
      return 'volume already bound to a different claim';
    if (ref?.uid && ref.uid !== claim.metadata.uid)
      return 'volume already bound to a different claim';
    if ((pv.spec?.storageClassName ?? '') !== className(claim))
      return 'storageClassName does not match';
    const modes = (pv.spec?.accessModes ?? []) as string[];
    if (!((claim.spec?.accessModes ?? []) as string[]).every((m) => modes.includes(m)))
      return 'incompatible accessMode';
    const want = quantityBytes(claim.spec?.resources?.requests?.storage);
    if (!(quantityBytes(pv.spec?.capacity?.storage) >= want)) return 'requested PV is too small';
    return undefined;
  };

  const candidates = (claim: KubeObject, node?: string): KubeObject[] =>
    store
      .list('persistentvolumes')
      .filter((pv) => !pv.metadata.deletionTimestamp && pv.status?.phase !== 'Released')
      .filter((pv) => !mismatch(pv, claim) && (!node || volumeAdmitsNode(pv, node)))
      .sort(
        (a, b) =>
          quantityBytes(a.spec?.capacity?.storage) - quantityBytes(b.spec?.capacity?.storage),
      );

  const bind = (pv: KubeObject, claim: KubeObject, byController: boolean): void => {
    pv.spec = {
      ...pv.spec,
      claimRef: {
        kind: 'PersistentVolumeClaim',
        namespace: claim.metadata.namespace,
        name: claim.metadata.name,
        uid: claim.metadata.uid,
        apiVersion: 'v1',
        resourceVersion: claim.metadata.resourceVersion,
      },
    };
    api.replace('persistentvolumes', undefined, pv.metadata.name!, pv);
    store.updateStatus('persistentvolumes', undefined, pv.metadata.name!, { phase: 'Bound' });
    claim.spec = { ...claim.spec, volumeName: pv.metadata.name };
    claim.metadata.annotations = {
      ...(claim.metadata.annotations ?? {}),
      'pv.kubernetes.io/bind-completed': 'yes',
      ...(byController ? { 'pv.kubernetes.io/bound-by-controller': 'yes' } : {}),
    };
    const ns = claim.metadata.namespace;
    api.replace('persistentvolumeclaims', ns, claim.metadata.name!, claim);
    store.updateStatus('persistentvolumeclaims', ns, claim.metadata.name!, {
      phase: 'Bound',
      accessModes: pv.spec?.accessModes,
      capacity: pv.spec?.capacity,
    });
  };

  /** A new node-affine hostPath PV for a claim of a class with a provisioner. */
  const provision = (claim: KubeObject, node: string): KubeObject | undefined => {
    const sc = classOf(claim);
    if (!sc?.provisioner || sc.provisioner === NO_PROVISIONER) return undefined;
    const name = `pvc-${claim.metadata.uid}`;
    return api.create('persistentvolumes', undefined, {
      metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': sc.provisioner } },
      spec: {
        capacity: { storage: claim.spec?.resources?.requests?.storage },
        accessModes: claim.spec?.accessModes,
        storageClassName: sc.metadata.name,
        persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
        hostPath: { path: `/var/lib/sim-provisioner/${name}`, type: 'DirectoryOrCreate' },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              {
                matchExpressions: [
                  { key: 'kubernetes.io/hostname', operator: 'In', values: [node] },
                ],
              },
            ],
          },
        },
      },
    }).object;
  };

  const syncClaim = (claim: KubeObject): void => {
    const wanted = claim.spec?.volumeName as string | undefined;
    if (wanted) {
      const pv = store.get('persistentvolumes', undefined, wanted);
      const why = pv ? mismatch(pv, claim) : 'volume not found';
      if (pv && !why) bind(pv, claim, false);
      else record(claim, 'VolumeMismatch', `Cannot bind to requested volume "${wanted}": ${why}`);
      return;
    }
    if (waitsForConsumer(claim)) return;
    const pv = candidates(claim)[0] ?? provision(claim, ctx.defaultNode);
    if (pv) bind(pv, claim, true);
  };

  return {
    sync(): void {
      for (const pv of store.list('persistentvolumes')) {
        const ref = pv.spec?.claimRef as Obj | undefined;
        const phase = pv.status?.phase;
        let next = phase;
        if (!ref && (phase === 'Pending' || !phase)) next = 'Available';
        if (ref?.uid) {
          const c = store.get('persistentvolumeclaims', ref.namespace, ref.name);
          if (!c || c.metadata.uid !== ref.uid) next = 'Released';
        }
        if (next !== phase)
          store.updateStatus('persistentvolumes', undefined, pv.metadata.name!, { phase: next });
      }
      for (const claim of store.list('persistentvolumeclaims')) {
        if (claim.status?.phase === 'Pending' && !claim.metadata.deletionTimestamp)
          syncClaim(claim);
      }
    },

    podConstraint(pod) {
      const ns = pod.metadata.namespace;
      let nodes: string[] | undefined;
      const narrow = (allowed: string[]): void => {
        nodes = (nodes ?? nodeNames).filter((n) => allowed.includes(n));
      };
      for (const name of claimNames(pod)) {
        const claim = store.get('persistentvolumeclaims', ns, name);
        if (!claim) return { error: `persistentvolumeclaim "${name}" not found` };
        const pv = claim.spec?.volumeName
          ? store.get('persistentvolumes', undefined, claim.spec.volumeName)
          : undefined;
        if (claim.status?.phase === 'Bound' && pv) {
          narrow(nodeNames.filter((n) => volumeAdmitsNode(pv, n)));
        } else if (waitsForConsumer(claim)) {
          const sc = classOf(claim);
          const dynamic = !!sc?.provisioner && sc.provisioner !== NO_PROVISIONER;
          narrow(nodeNames.filter((n) => dynamic || candidates(claim, n).length > 0));
        } else {
          return { error: 'pod has unbound immediate PersistentVolumeClaims' };
        }
      }
      return { nodes };
    },

    bindForNode(pod, node) {
      for (const name of claimNames(pod)) {
        const claim = store.get('persistentvolumeclaims', pod.metadata.namespace, name);
        if (!claim || claim.status?.phase === 'Bound' || !waitsForConsumer(claim)) continue;
        claim.metadata.annotations = {
          ...(claim.metadata.annotations ?? {}),
          [SELECTED_NODE_ANNOTATION]: node,
        };
        const pv = candidates(claim, node)[0] ?? provision(claim, node);
        if (pv) bind(pv, claim, true);
      }
    },
  };
}

export function claimNames(pod: KubeObject): string[] {
  return ((pod.spec?.volumes ?? []) as Obj[])
    .map((v) => v.persistentVolumeClaim?.claimName as string | undefined)
    .filter((n): n is string => !!n);
}
