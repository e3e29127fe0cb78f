/**
 * PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via fast-json-patch) and a
 * documented subset of strategic merge patch (see README.md).
 */
import fastJsonPatch from 'fast-json-patch';
import { badRequest, KubeStatusError } from './status-errors.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** What the real server lists in its 415 message for built-in resources. */
export const ACCEPTED_PATCH_TYPES = [
  PATCH_TYPES.json,
  PATCH_TYPES.merge,
  PATCH_TYPES.strategic,
  PATCH_TYPES.apply,
];

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386: objects merge recursively, null deletes, anything else (arrays included) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v) as Json;
  }
  return out;
}

/**
 * RFC 6902. Bodies that are not arrays fail like the Go decoder; a failed operation (including
 * `test`) is a 422 with the generic message the real server sends.
 */
export function jsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) {
    const what = isObject(patch)
      ? 'object'
      : patch === null
        ? 'null'
        : typeof patch === 'string'
          ? 'string'
          : typeof patch;
    throw badRequest(`json: cannot unmarshal ${what} into Go value of type jsonpatch.Patch`);
  }
  try {
    const doc = structuredClone(target);
    return fastJsonPatch.applyPatch(doc, patch as fastJsonPatch.Operation[], true, true)
      .newDocument;
  } catch (err) {
    if (err instanceof KubeStatusError) throw err;
    throw new KubeStatusError({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server rejected our request due to an error in our request',
      reason: 'Invalid',
      details: {},
      code: 422,
    });
  }
}

/**
 * Merge keys of the lists that strategic merge patch merges (from the `patchMergeKey` tags of
 * k8s.io/api), chosen by field name. Other lists are replaced wholesale.
 */
const MERGE_KEYS: Record<string, string | ((items: Json[]) => string)> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  conditions: 'type',
  ownerReferences: 'uid',
  // Container ports merge by containerPort, Service ports by port.
  ports: (items) =>
    items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port',
};
/** Primitive lists with patchStrategy merge (set semantics). */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch))
    throw badRequest(
      'unable to find api field in struct for the patch: the patch is not a JSON object',
    );
  const result = smpObject(isObject(target) ? target : {}, patch);
  return result === undefined ? {} : result;
}

function smpObject(target: JsonObject, patch: JsonObject): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const rest = structuredClone(patch);
    delete rest.$patch;
    return stripDirectives(rest) as JsonObject;
  }
  const out: JsonObject = structuredClone(target);
  const orders: Array<[string, Json[]]> = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v))
        out[field] = cur.filter((x) => !v.some((d) => JSON.stringify(d) === JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (isObject(v)) {
      const merged = smpObject(isObject(out[k]) ? (out[k] as JsonObject) : {}, v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      out[k] = smpList(k, Array.isArray(out[k]) ? (out[k] as Json[]) : [], v);
    } else {
      out[k] = v;
    }
  }
  for (const [field, order] of orders) {
    const list = out[field];
    if (Array.isArray(list)) out[field] = applyOrder(field, list, order);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  const k = MERGE_KEYS[field];
  return typeof k === 'function' ? k(items) : k;
}

function smpList(field: string, target: Json[], patch: Json[]): Json[] {
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const out = [...target];
    for (const v of patch)
      if (!out.some((x) => JSON.stringify(x) === JSON.stringify(v))) out.push(v);
    return out;
  }
  const key = mergeKeyFor(field, [...target, ...patch]);
  if (!key || !patch.every(isObject)) return stripDirectives(patch) as Json[];
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return stripDirectives(patch.filter((p) => !(isObject(p) && p.$patch === 'replace'))) as Json[];
  }
  const out = structuredClone(target);
  for (const p of patch as JsonObject[]) {
    const idx = out.findIndex(
      (t) => isObject(t) && JSON.stringify(t[key]) === JSON.stringify(p[key]),
    );
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = smpObject(out[idx] as JsonObject, p);
      if (merged === undefined) out.splice(idx, 1);
      else out[idx] = merged;
    } else {
      out.push(stripDirectives(p));
    }
  }
  return out;
}

/** `$setElementOrder`: listed elements first in the given order, the rest after in their order. */
function applyOrder(field: string, list: Json[], order: Json[]): Json[] {
  const key = mergeKeyFor(field, list);
  const ident = (x: Json): string => JSON.stringify(key && isObject(x) ? x[key] : x);
  const wanted = order.map(ident);
  const ranked = list.map((x, i) => ({ x, i, r: wanted.indexOf(ident(x)) }));
  ranked.sort((a, b) => (a.r === -1 ? Infinity : a.r) - (b.r === -1 ? Infinity : b.r) || a.i - b.i);
  return ranked.map((e) => e.x);
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}
