/**
 * Where a workload's storage really is: the one resolver plan, backup, migrate, cutover and
 * rollback use. A hostPath is a directory on the node the pods run on; a claim leads to its
 * bound PersistentVolume (`local` and `hostPath` PVs are node-local, with the node from the PV's
 * node affinity when it has one; `nfs` is shared); volumeClaimTemplates give one claim per
 * ordinal (`<template>-<sts>-<ordinal>`). The mount's `subPath` is part of the path.
 */
import type { KubeClient } from './client.js';
import { objectPath, persistentVolumePath } from './paths.js';
import type { KubeObject } from './types.js';

export type VolumeKind = 'hostPath' | 'local' | 'nfs' | 'other';

export interface ResolvedVolume {
  kind: VolumeKind;
  /** The data is on one node's disk (hostPath, local): the runner must be on that node. */
  nodeLocal: boolean;
  /** The directory on the node (hostPath/local) or in the NFS export, subPath included. */
  path?: string;
  nfs?: { server: string; path: string };
  subPath?: string;
  claim?: string;
  persistentVolume?: string;
  /** StatefulSet ordinal whose claim this is (volumeClaimTemplates). */
  ordinal?: number;
  /** The node holding the data, and how it was found. */
  node?: string;
  nodeFrom?: 'volume' | 'pods' | 'pinning';
  /** Why the volume could not be resolved (claim missing or unbound, PV missing). */
  problem?: string;
}

interface PvSpec {
  local?: { path?: string };
  hostPath?: { path?: string };
  nfs?: { server?: string; path?: string };
  nodeAffinity?: {
    required?: {
      nodeSelectorTerms?: {
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }[];
    };
  };
}

/** The single hostname a PV's required node affinity allows, if it names exactly one. */
export function volumeNode(spec: PvSpec | undefined): string | undefined {
  const nodes = new Set<string>();
  for (const term of spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) {
      if (e.key === 'kubernetes.io/hostname' && e.operator === 'In')
        for (const v of e.values ?? []) nodes.add(v);
    }
  }
  return nodes.size === 1 ? [...nodes][0] : undefined;
}

function joinSubPath(base: string, subPath: string | undefined): string {
  if (!subPath) return base;
  return `${base.replace(/\/+$/, '')}/${subPath.replace(/^\/+/, '')}`;
}

/** A PersistentVolume's source as a ResolvedVolume (subPath applied). */
export function describePersistentVolume(
  pv: KubeObject,
  subPath: string | undefined,
): ResolvedVolume {
  const spec = pv.spec as PvSpec | undefined;
  const base = { persistentVolume: pv.metadata?.name ?? '', ...(subPath ? { subPath } : {}) };
  const node = volumeNode(spec);
  const at = node ? { node, nodeFrom: 'volume' as const } : {};
  if (spec?.local?.path)
    return {
      ...base,
      ...at,
      kind: 'local',
      nodeLocal: true,
      path: joinSubPath(spec.local.path, subPath),
    };
  if (spec?.hostPath?.path)
    return {
      ...base,
      ...at,
      kind: 'hostPath',
      nodeLocal: true,
      path: joinSubPath(spec.hostPath.path, subPath),
    };
  if (spec?.nfs?.server && spec.nfs.path) {
    return {
      ...base,
      kind: 'nfs',
      nodeLocal: false,
      nfs: { server: spec.nfs.server, path: spec.nfs.path },
      path: joinSubPath(spec.nfs.path, subPath),
    };
  }
  return {
    ...base,
    kind: 'other',
    nodeLocal: false,
    problem: `PersistentVolume "${base.persistentVolume}" has a source this tool cannot read from a node`,
  };
}

/** Follows a claim to its bound PV. */
export async function resolveClaim(
  client: KubeClient,
  namespace: string,
  claim: string,
  subPath: string | undefined,
): Promise<ResolvedVolume> {
  const pvc = await client.getOrNull<KubeObject>(
    objectPath('PersistentVolumeClaim', namespace, claim),
  );
  const volumeName = (pvc?.spec as { volumeName?: string } | undefined)?.volumeName;
  const phase = (pvc?.status as { phase?: string } | undefined)?.phase;
  const unresolved = (problem: string): ResolvedVolume => ({
    kind: 'other',
    nodeLocal: false,
    claim,
    ...(subPath ? { subPath } : {}),
    problem,
  });
  if (!pvc) return unresolved(`PersistentVolumeClaim "${claim}" does not exist`);
  if (!volumeName || phase !== 'Bound')
    return unresolved(
      `PersistentVolumeClaim "${claim}" is not bound (phase ${phase ?? 'unknown'})`,
    );
  const pv = await client.getOrNull<KubeObject>(persistentVolumePath(volumeName));
  if (!pv) return unresolved(`PersistentVolume "${volumeName}" of claim "${claim}" does not exist`);
  return { ...describePersistentVolume(pv, subPath), claim };
}
