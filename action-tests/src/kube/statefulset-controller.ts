/** The StatefulSet controller: ordinal pods, adoption, scaling, rolling updates, status and revisions. */
import type { ControllerContext } from './controller-context.js';
import { controllerRef, isControlledBy, podReady, templateHash } from './controller-context.js';
import type { Obj } from './json.js';
import { selectorMatches } from './selectors.js';
import type { KubeObject } from './store.js';
import { clone } from './store.js';

export function makeStatefulSetController(ctx: ControllerContext): () => void {
  const { store, createPod, deletePod, available } = ctx;
  return (): void => {
    for (const sts of store.list('statefulsets')) {
      if (sts.metadata.deletionTimestamp) continue;
      const ns = sts.metadata.namespace!;
      const name = sts.metadata.name!;
      const spec = sts.spec ?? {};
      const updateRevision = `${name}-${templateHash(spec.template)}`;
      const currentRevisionPrev: string = sts.status?.currentRevision ?? updateRevision;
      const start: number = spec.ordinals?.start ?? 0;
      const replicas: number = spec.replicas ?? 1;
      const ordinalOf = (p: KubeObject): number => {
        const m = p.metadata.name!.slice(name.length + 1);
        return p.metadata.name!.startsWith(`${name}-`) && /^\d+$/.test(m) ? Number(m) : -1;
      };
      // Adopt orphans named <sts>-<ordinal> matching the selector (what makes rollback after an orphan delete work).
      for (const p of store.list('pods', ns)) {
        if (
          (p.metadata.ownerReferences ?? []).some((r) => r.controller) ||
          p.metadata.deletionTimestamp
        )
          continue;
        if (ordinalOf(p) >= 0 && selectorMatches(spec.selector, p.metadata.labels)) {
          p.metadata.ownerReferences = [...(p.metadata.ownerReferences ?? []), controllerRef(sts)];
          store.update('pods', p);
        }
      }
      const pods = store
        .list('pods', ns)
        .filter((p) => isControlledBy(p, sts) && ordinalOf(p) >= 0);
      const byOrdinal = new Map(pods.map((p) => [ordinalOf(p), p]));
      const parallel = spec.podManagementPolicy === 'Parallel';
      const terminating = pods.some((p) => p.metadata.deletionTimestamp);
      const revisionOf = (p: KubeObject): string | undefined =>
        p.metadata.labels?.['controller-revision-hash'];
      // Create missing pods in range.
      for (let i = start; i < start + replicas; i++) {
        const existing = byOrdinal.get(i);
        if (existing) {
          if (!parallel && (!podReady(existing) || existing.metadata.deletionTimestamp)) break;
          continue;
        }
        if (!parallel && terminating) break;
        const template = clone(spec.template ?? {});
        const podName = `${name}-${i}`;
        const revision =
          i < start + (spec.updateStrategy?.rollingUpdate?.partition ?? 0) &&
          currentRevisionPrev !== updateRevision
            ? currentRevisionPrev
            : updateRevision;
        const podSpec: Obj = { ...clone(template.spec ?? {}), hostname: podName };
        if (spec.serviceName) podSpec.subdomain = spec.serviceName;
        const volumes: Obj[] = [...(podSpec.volumes ?? [])];
        for (const claim of (spec.volumeClaimTemplates ?? []) as Obj[]) {
          const cname = claim.metadata?.name;
          if (cname && !volumes.some((v) => v.name === cname)) {
            ensureClaim(ctx, sts, claim, `${cname}-${podName}`);
            volumes.push({
              name: cname,
              persistentVolumeClaim: { claimName: `${cname}-${podName}` },
            });
          }
        }
        if (volumes.length) podSpec.volumes = volumes;
        const ok = createPod(sts, {
          metadata: {
            name: podName,
            labels: {
              ...(template.metadata?.labels ?? {}),
              'apps.kubernetes.io/pod-index': String(i),
              'controller-revision-hash': revision,
              'statefulset.kubernetes.io/pod-name': podName,
            },
            annotations: template.metadata?.annotations,
            ownerReferences: [controllerRef(sts)],
          },
          spec: podSpec,
        });
        if (!ok || !parallel) break;
      }
      // Scale down: highest ordinal first.
      const condemned = pods
        .filter((p) => ordinalOf(p) < start || ordinalOf(p) >= start + replicas)
        .sort((a, b) => ordinalOf(b) - ordinalOf(a));
      if (condemned.length) {
        if (parallel) condemned.forEach((p) => deletePod(p, sts));
        else if (!terminating) deletePod(condemned[0]!, sts);
      }
      // Rolling update: replace the highest-ordinal outdated pod once everything else is ready.
      const inRange = pods.filter((p) => ordinalOf(p) >= start && ordinalOf(p) < start + replicas);
      const partition: number = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      if (
        spec.updateStrategy?.type !== 'OnDelete' &&
        inRange.length === replicas &&
        !terminating &&
        inRange.every((p) => podReady(p) || revisionOf(p) !== updateRevision)
      ) {
        const outdated = inRange
          .filter((p) => revisionOf(p) !== updateRevision && ordinalOf(p) >= start + partition)
          .sort((a, b) => ordinalOf(b) - ordinalOf(a));
        if (
          outdated.length &&
          (parallel || inRange.filter((p) => revisionOf(p) === updateRevision).every(podReady))
        )
          deletePod(outdated[0]!, sts);
      }
      const now = store.list('pods', ns).filter((p) => isControlledBy(p, sts) && ordinalOf(p) >= 0);
      const active = now.filter((p) => !p.metadata.deletionTimestamp);
      const readyReplicas = active.filter(podReady).length;
      const updatedReplicas = active.filter((p) => revisionOf(p) === updateRevision).length;
      let currentRevision = currentRevisionPrev;
      if (updatedReplicas === replicas && readyReplicas === replicas && active.length === replicas)
        currentRevision = updateRevision;
      const status: Obj = {
        observedGeneration: sts.metadata.generation ?? 1,
        replicas: active.length,
        readyReplicas,
        currentReplicas: active.filter((p) => revisionOf(p) === currentRevision).length,
        updatedReplicas,
        availableReplicas: active.filter((p) => available(p, spec.minReadySeconds ?? 0)).length,
        currentRevision,
        updateRevision,
        collisionCount: 0,
      };
      for (const k of ['readyReplicas', 'currentReplicas', 'updatedReplicas'])
        if (status[k] === 0) delete status[k];
      store.updateStatus('statefulsets', ns, name, status);
    }
  };
}

/**
 * The claim of one ordinal from a volumeClaimTemplate, created once and kept (retention Retain),
 * labelled with the template's and the selector's labels as upstream (stateful_set_utils.go
 * getPersistentVolumeClaims).
 */
function ensureClaim(ctx: ControllerContext, sts: KubeObject, template: Obj, name: string): void {
  const ns = sts.metadata.namespace;
  if (ctx.store.get('persistentvolumeclaims', ns, name)) return;
  try {
    ctx.api.create('persistentvolumeclaims', ns, {
      metadata: {
        name,
        labels: {
          ...(template.metadata?.labels ?? {}),
          ...(sts.spec?.selector?.matchLabels ?? {}),
        },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
      },
      spec: clone(template.spec ?? {}),
    });
  } catch (err) {
    ctx.record(
      sts,
      'FailedCreate',
      `create Claim ${name} for StatefulSet ${sts.metadata.name} failed error: ${(err as Error).message}`,
    );
  }
}
