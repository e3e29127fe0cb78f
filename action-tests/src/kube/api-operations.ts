/**
 * The REST semantics of kube-apiserver over the ObjectStore: create/read/list/update/patch/delete
 * with defaulting, validation, preconditions, generation, status and scale subresources, delete
 * propagation and a small garbage collector. The HTTP layer (api-server.ts) only maps requests here;
 * in-process callers (the pod simulator, tests) may call it directly.
 */
import { randomBytes } from 'node:crypto';
import { applyDefaults } from './defaults.js';
import {
  jsonPatch,
  mergePatch,
  PATCH_TYPES,
  ACCEPTED_PATCH_TYPES,
  strategicMergePatch,
} from './patch.js';
import type { ResourceType } from './resources.js';
import { apiVersionOf, resolveResource } from './resources.js';
import {
  matchesRequirements,
  parseFieldSelector,
  parseLabelSelector,
  selectorToString,
} from './selectors.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  fieldErr,
  internalError,
  invalid,
  notFound,
  unsupportedMediaType,
} from './status-errors.js';
import type { KubeObject, ObjectStore } from './store.js';
import { clone, rfc3339 } from './store.js';
import {
  pruneUnknownFields,
  stableJson,
  strictDecodingError,
  unknownFields,
  validateObject,
} from './validation.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  fieldValidation?: FieldValidation;
  dryRun?: boolean;
}

export interface WriteResult {
  object: KubeObject;
  /** Warning header values (`299 - "unknown field ..."`). */
  warnings: string[];
}

export interface DeleteOptions {
  propagationPolicy?: string;
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface DeleteResult {
  code: number;
  body: KubeObject | Record<string, unknown>;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export type Subresource = 'status' | 'scale' | undefined;

const RANDOM_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** 5 characters like utilrand.String (used for generateName). */
export function randomSuffix(n = 5): string {
  const bytes = randomBytes(n);
  return [...bytes].map((b) => RANDOM_ALPHABET[b % RANDOM_ALPHABET.length]).join('');
}

function res(r: ResourceType | string): ResourceType {
  return typeof r === 'string' ? resolveResource(r) : r;
}

export class KubeApi {
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly kubeletNodes = new Set<string>();
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    readonly store: ObjectStore,
    private readonly options: { gcDelayMs?: number } = {},
  ) {
    this.unsubscribe = store.subscribe((e) => {
      if (e.type === 'DELETED' || e.object.metadata.deletionTimestamp) this.scheduleGc();
    });
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.gcTimer) clearTimeout(this.gcTimer);
  }

  /**
   * Declares that a kubelet runs these nodes: their pods are then deleted gracefully (deletionTimestamp
   * first; the kubelet removes them once the containers stopped), as on a real cluster.
   */
  attachKubelet(nodes: string[]): () => void {
    for (const n of nodes) this.kubeletNodes.add(n);
    return () => {
      for (const n of nodes) this.kubeletNodes.delete(n);
    };
  }

  private logProvider:
    ((namespace: string, pod: string, container?: string) => string[]) | undefined;

  /** Where `pods/log` reads from (the simulator's kubelet registers itself). */
  setLogProvider(
    provider: ((namespace: string, pod: string, container?: string) => string[]) | undefined,
  ): void {
    this.logProvider = provider;
  }

  /** GET pods/{name}/log: the container's recent output (stdout and stderr interleaved). */
  podLogs(namespace: string, name: string, container?: string, tailLines?: number): string {
    const pod = this.get('pods', namespace, name);
    const containers = ((pod.spec?.containers ?? []) as Array<{ name: string }>).map((c) => c.name);
    if (container && !containers.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    }
    if (!container && containers.length > 1) {
      throw badRequest(
        `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`,
      );
    }
    const lines = this.logProvider?.(namespace, name, container ?? containers[0]) ?? [];
    const tail =
      tailLines !== undefined && tailLines >= 0
        ? lines.slice(Math.max(0, lines.length - tailLines))
        : lines;
    return tail.map((l) => `${l}\n`).join('');
  }

  /** DELETE on a collection: deletes each match, answers the list of what was deleted. */
  deleteCollection(
    resource: ResourceType | string,
    namespace: string | undefined,
    list: ListOptions,
    opts: DeleteOptions = {},
  ): KubeObject {
    const r = res(resource);
    const items = this.filter(r, this.store.list(r, namespace), list);
    for (const o of items) {
      try {
        this.delete(r, o.metadata.namespace, o.metadata.name!, opts);
      } catch {
        // Deleted concurrently (e.g. by the garbage collector): nothing to do.
      }
    }
    return {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: this.store.resourceVersion },
      items,
    } as unknown as KubeObject;
  }

  get(resource: ResourceType | string, namespace: string | undefined, name: string): KubeObject {
    const r = res(resource);
    const o = this.store.get(r, namespace, name);
    if (!o) throw notFound(r, name);
    return o;
  }

  list(
    resource: ResourceType | string,
    namespace: string | undefined,
    opts: ListOptions = {},
  ): KubeObject {
    const r = res(resource);
    const items = this.filter(r, this.store.list(r, namespace), opts);
    return {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: this.store.resourceVersion },
      items: items.map((o) => {
        delete o.apiVersion;
        delete o.kind;
        return o;
      }),
    } as unknown as KubeObject;
  }

  /** A predicate for list/watch filtering. */
  matcher(r: ResourceType, opts: ListOptions): (o: KubeObject) => boolean {
    const reqs = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : [];
    const field = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector, r.kind) : () => true;
    return (o) => matchesRequirements(o.metadata.labels, reqs) && field(o);
  }

  private filter(r: ResourceType, items: KubeObject[], opts: ListOptions): KubeObject[] {
    const m = this.matcher(r, opts);
    return items.filter(m);
  }

  private decodeBody(
    r: ResourceType,
    body: unknown,
    opts: WriteOptions,
    warnings: string[],
  ): KubeObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: the object is not a JSON object`,
      );
    }
    const o = clone(body) as KubeObject;
    if (o.apiVersion !== undefined && o.apiVersion !== apiVersionOf(r)) {
      throw badRequest(
        `the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${apiVersionOf(r)})`,
      );
    }
    if (o.kind !== undefined && o.kind !== r.kind) {
      throw badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${String(o.kind)}: no kind "${String(o.kind)}" is registered`,
      );
    }
    o.metadata ??= {};
    const mode = opts.fieldValidation ?? 'Warn';
    if (mode === 'Strict') {
      const unknown = unknownFields(r.model, o);
      if (unknown.length > 0) throw strictDecodingError(r, unknown);
    } else {
      const dropped = pruneUnknownFields(r.model, o);
      if (mode === 'Warn') warnings.push(...dropped.map((p) => `299 - "unknown field \\"${p}\\""`));
    }
    return o;
  }

  private ensureNamespace(r: ResourceType, namespace: string | undefined): void {
    if (!r.namespaced) return;
    if (!namespace) throw badRequest('the namespace of the object must be set');
    const ns = this.store.get('namespaces', undefined, namespace);
    if (!ns) throw notFound(resolveResource('namespaces'), namespace);
  }

  create(
    resource: ResourceType | string,
    namespace: string | undefined,
    body: unknown,
    opts: WriteOptions = {},
  ): WriteResult {
    const r = res(resource);
    const warnings: string[] = [];
    const o = this.decodeBody(r, body, opts, warnings);
    const meta = o.metadata;
    if (r.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace ?? meta.namespace;
    } else {
      delete meta.namespace;
    }
    if (meta.resourceVersion)
      throw internalError('resourceVersion should not be set on objects to be created');
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    if (!meta.name)
      throw invalid(r, '', [
        fieldErr.required('metadata.name', 'name or generateName is required'),
      ]);
    this.ensureNamespace(r, meta.namespace);
    for (const k of [
      'uid',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'selfLink',
      'managedFields',
    ])
      delete meta[k];
    if (r.generation) meta.generation = 1;
    else delete meta.generation;
    this.resetStatusOnCreate(r, o);
    applyDefaults(r.kind, o);
    validateObject(r, o);
    if (this.store.get(r, meta.namespace, meta.name)) throw alreadyExists(r, meta.name);
    if (opts.dryRun) {
      o.apiVersion = apiVersionOf(r);
      o.kind = r.kind;
      meta.creationTimestamp = rfc3339();
      return { object: o, warnings };
    }
    return { object: this.store.create(r, o), warnings };
  }

  private resetStatusOnCreate(r: ResourceType, o: KubeObject): void {
    if (r.kind === 'Pod') o.status = { phase: 'Pending', qosClass: 'BestEffort' };
    else if (r.kind === 'Namespace') o.status = { phase: 'Active' };
    else if (r.kind === 'Service') o.status = { loadBalancer: {} };
    else if (r.kind === 'PersistentVolume' || r.kind === 'PersistentVolumeClaim')
      o.status = { phase: 'Pending' };
    else if (r.subresources.includes('status')) o.status = {};
  }

  replace(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
    sub: Subresource = undefined,
  ): WriteResult {
    const r = res(resource);
    const warnings: string[] = [];
    const o = this.decodeBody(r, body, opts, warnings);
    const old = this.get(r, namespace, name);
    return { object: this.update(r, old, o, opts, sub), warnings };
  }

  private update(
    r: ResourceType,
    old: KubeObject,
    o: KubeObject,
    opts: WriteOptions,
    sub: Subresource,
  ): KubeObject {
    const name = old.metadata.name!;
    const meta = o.metadata;
    if (meta.name && meta.name !== name) {
      throw badRequest(
        `the name of the object (${meta.name}) does not match the name on the URL (${name})`,
      );
    }
    if (r.namespaced && meta.namespace && meta.namespace !== old.metadata.namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    if (meta.uid && meta.uid !== old.metadata.uid) {
      throw conflict(
        r,
        name,
        `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (meta.resourceVersion && meta.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(r, name);

    let next: KubeObject;
    if (sub === 'status') {
      next = clone(old);
      next.status = o.status ?? {};
    } else {
      next = o;
      if (r.subresources.includes('status')) next.status = clone(old.status);
    }
    const m = next.metadata;
    m.name = name;
    if (r.namespaced) m.namespace = old.metadata.namespace;
    for (const k of [
      'uid',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'generation',
    ] as const) {
      if (old.metadata[k] === undefined) delete m[k];
      else (m as Record<string, unknown>)[k] = old.metadata[k];
    }
    delete m.managedFields;
    delete m.selfLink;
    if (sub !== 'status') {
      applyDefaults(r.kind, next);
      validateObject(r, next, old);
      if (r.generation) {
        const specChanged = stableJson(next.spec) !== stableJson(old.spec);
        const annotationsChanged =
          r.kind === 'Deployment' &&
          stableJson(next.metadata.annotations ?? {}) !==
            stableJson(old.metadata.annotations ?? {});
        if (specChanged || annotationsChanged) m.generation = (old.metadata.generation ?? 0) + 1;
      }
      if (old.metadata.deletionTimestamp) {
        // Finalizers may only be removed once deletion started (and new ones are refused upstream).
        const added = (m.finalizers ?? []).filter(
          (f) => !(old.metadata.finalizers ?? []).includes(f),
        );
        if (added.length)
          throw invalid(r, name, [
            fieldErr.forbidden(
              'metadata.finalizers',
              `no new finalizers can be added if the object is being deleted, found new finalizers []string{"${added.join('", "')}"}`,
            ),
          ]);
      }
    }
    m.resourceVersion = old.metadata.resourceVersion;
    if (stableJson(next) === stableJson(old)) return old; // no-op updates keep the resourceVersion
    if (opts.dryRun) return next;
    if (
      m.deletionTimestamp &&
      (m.finalizers ?? []).length === 0 &&
      !this.awaitingKubelet(r, next)
    ) {
      this.store.remove(r, m.namespace, name);
      return next;
    }
    return this.store.update(r, next);
  }

  patch(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
    contentType: string,
    rawBody: string,
    opts: WriteOptions = {},
    sub: Subresource = undefined,
  ): WriteResult {
    const r = res(resource);
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    if (![PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic].includes(type as never)) {
      throw unsupportedMediaType(ACCEPTED_PATCH_TYPES);
    }
    let patchBody: unknown;
    try {
      patchBody = JSON.parse(rawBody);
    } catch (err) {
      throw badRequest(`error decoding patch: ${(err as Error).message}`);
    }
    const old = this.get(r, namespace, name);
    const current: unknown = sub === 'scale' ? this.scaleOf(r, old) : old;
    let patched: unknown;
    if (type === PATCH_TYPES.json) patched = jsonPatch(current, patchBody);
    else if (type === PATCH_TYPES.merge) {
      if (!patchBody || typeof patchBody !== 'object' || Array.isArray(patchBody)) {
        throw badRequest(
          'json: cannot unmarshal array into Go value of type map[string]interface {}',
        );
      }
      patched = mergePatch(current, patchBody);
    } else patched = strategicMergePatch(current, patchBody);
    if (sub === 'scale')
      return { object: this.applyScale(r, old, patched as KubeObject, opts), warnings: [] };
    const warnings: string[] = [];
    const o = this.decodeBody(r, patched, opts, warnings);
    // A patch keeps the stored resourceVersion unless the patch itself set one (then it is a precondition).
    const patchRv = (patchBody as { metadata?: { resourceVersion?: string } } | null)?.metadata
      ?.resourceVersion;
    o.metadata.resourceVersion =
      typeof patchRv === 'string' ? patchRv : old.metadata.resourceVersion;
    return { object: this.update(r, old, o, opts, sub), warnings };
  }

  /** The autoscaling/v1 Scale view of a workload. */
  scaleOf(resource: ResourceType | string, o: KubeObject): KubeObject {
    const r = res(resource);
    if (!r.subresources.includes('scale')) throw notFound(r, o.metadata.name ?? '');
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 0 },
      status: { replicas: o.status?.replicas ?? 0, selector: selectorToString(o.spec?.selector) },
    };
  }

  getScale(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
  ): KubeObject {
    const r = res(resource);
    return this.scaleOf(r, this.get(r, namespace, name));
  }

  replaceScale(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
  ): KubeObject {
    const r = res(resource);
    const old = this.get(r, namespace, name);
    return this.applyScale(r, old, body as KubeObject, opts);
  }

  private applyScale(
    r: ResourceType,
    old: KubeObject,
    scale: KubeObject,
    opts: WriteOptions,
  ): KubeObject {
    const name = old.metadata.name!;
    const replicas = scale?.spec?.replicas;
    if (scale?.metadata?.name && scale.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
      throw badRequest(
        `Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal ${typeof replicas} into Go struct field ScaleSpec.spec.replicas of type int32`,
      );
    }
    if (replicas < 0) {
      throw invalid({ ...r, kind: 'Scale', group: 'autoscaling' }, name, [
        fieldErr.invalid('spec.replicas', replicas, 'must be greater than or equal to 0'),
      ]);
    }
    const rv = scale.metadata?.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) throw conflict(r, name);
    const next = clone(old);
    next.spec = { ...(next.spec ?? {}), replicas };
    const updated = this.update(r, old, next, opts, undefined);
    return this.scaleOf(r, updated);
  }

  delete(
    resource: ResourceType | string,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): DeleteResult {
    const r = res(resource);
    const old = this.get(r, namespace, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw conflict(
        r,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        r,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${old.metadata.resourceVersion}`,
      );
    }
    const policy =
      opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : 'Background');
    if (!['Foreground', 'Background', 'Orphan'].includes(policy)) {
      throw invalid({ ...r, kind: 'DeleteOptions', group: 'meta.k8s.io' }, '', [
        fieldErr.notSupported('propagationPolicy', policy, ['Foreground', 'Background', 'Orphan']),
      ]);
    }
    if (opts.dryRun) return this.deletedResponse(r, old);
    const now = rfc3339();
    const next = clone(old);
    const m = next.metadata;

    if (r.kind === 'Namespace') {
      m.deletionTimestamp ??= now;
      next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      const updated = this.store.update(r, next);
      this.scheduleGc();
      return { code: 200, body: updated };
    }
    const finalizers = new Set(m.finalizers ?? []);
    if (policy === 'Foreground') finalizers.add('foregroundDeletion');
    if (policy === 'Orphan') finalizers.add('orphan');
    const graceful = this.awaitingKubelet(r, old) && opts.gracePeriodSeconds !== 0;
    if (finalizers.size === 0 && !graceful) {
      this.store.remove(r, old.metadata.namespace, name);
      return this.deletedResponse(r, old);
    }
    if (finalizers.size > 0) m.finalizers = [...finalizers];
    if (!m.deletionTimestamp) {
      const grace =
        r.kind === 'Pod'
          ? (opts.gracePeriodSeconds ?? old.spec?.terminationGracePeriodSeconds ?? 30)
          : 0;
      m.deletionTimestamp = rfc3339(new Date(Date.now() + grace * 1000));
      m.deletionGracePeriodSeconds = grace;
    } else if (r.kind === 'Pod' && opts.gracePeriodSeconds === 0 && finalizers.size === 0) {
      this.store.remove(r, old.metadata.namespace, name);
      return this.deletedResponse(r, old);
    }
    const updated = stableJson(next) === stableJson(old) ? old : this.store.update(r, next);
    this.scheduleGc();
    return { code: r.kind === 'Pod' || finalizers.size > 0 ? 200 : 202, body: updated };
  }

  /** A pod on a node a simulated kubelet runs is only removed once its containers stopped. */
  private awaitingKubelet(r: ResourceType, o: KubeObject): boolean {
    return (
      r.kind === 'Pod' &&
      typeof o.spec?.nodeName === 'string' &&
      this.kubeletNodes.has(o.spec.nodeName) &&
      !['Succeeded', 'Failed'].includes(o.status?.phase)
    );
  }

  private deletedResponse(r: ResourceType, old: KubeObject): DeleteResult {
    if (r.returnDeletedObject) return { code: 200, body: old };
    const details: Record<string, string> = { name: old.metadata.name ?? '' };
    if (r.group) details.group = r.group;
    details.kind = r.resource;
    details.uid = old.metadata.uid ?? '';
    return {
      code: 200,
      body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details },
    };
  }

  /** Removes a pod whose containers stopped (the kubelet's final, grace-0 delete). */
  finalizePodDeletion(namespace: string, name: string): void {
    const pod = this.store.get('pods', namespace, name);
    if (pod && (pod.metadata.finalizers ?? []).length === 0)
      this.store.remove('pods', namespace, name);
  }

  private scheduleGc(): void {
    if (this.closed || this.gcTimer) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      if (this.closed) return;
      if (this.gcPass()) this.scheduleGc();
    }, this.options.gcDelayMs ?? 50);
    this.gcTimer.unref?.();
  }

  /** One pass of the garbage collector and namespace finalizer; returns true if more work may remain. */
  gcPass(): boolean {
    let again = false;
    const all = this.store.listAll();
    const uids = new Set(all.map((e) => e.object.metadata.uid));
    const dependentsOf = (
      uid: string | undefined,
    ): Array<{ resource: ResourceType; object: KubeObject }> =>
      all.filter((e) => (e.object.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid));

    for (const { resource: r, object: o } of all) {
      const m = o.metadata;
      if (r.kind === 'Namespace' && m.deletionTimestamp) {
        const content = all.filter(
          (e) => e.resource.namespaced && e.object.metadata.namespace === m.name,
        );
        for (const e of content)
          if (!e.object.metadata.deletionTimestamp)
            this.tryDelete(e.resource, e.object, 'Background');
        if (content.length === 0) this.store.remove(r, undefined, m.name!);
        else again = true;
        continue;
      }
      if (!m.deletionTimestamp) continue;
      const finalizers = m.finalizers ?? [];
      if (finalizers.includes('orphan')) {
        for (const d of dependentsOf(m.uid)) {
          const refs = (d.object.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== m.uid);
          const upd = this.store.get(
            d.resource,
            d.object.metadata.namespace,
            d.object.metadata.name!,
          );
          if (!upd) continue;
          if (refs.length) upd.metadata.ownerReferences = refs;
          else delete upd.metadata.ownerReferences;
          this.store.update(d.resource, upd);
        }
        this.dropFinalizer(r, o, 'orphan');
        again = true;
        continue;
      }
      if (finalizers.includes('foregroundDeletion')) {
        const deps = dependentsOf(m.uid);
        if (deps.length > 0) {
          for (const d of deps)
            if (!d.object.metadata.deletionTimestamp)
              this.tryDelete(d.resource, d.object, 'Foreground');
          again = true;
        } else {
          this.dropFinalizer(r, o, 'foregroundDeletion');
          again = true;
        }
      }
    }
    // Dependents whose owners are all gone are collected (Background propagation).
    for (const { resource: r, object: o } of all) {
      const refs = o.metadata.ownerReferences ?? [];
      if (refs.length === 0 || o.metadata.deletionTimestamp) continue;
      if (refs.every((ref) => !uids.has(ref.uid))) {
        this.tryDelete(r, o, 'Background');
        again = true;
      }
    }
    return again;
  }

  private tryDelete(r: ResourceType, o: KubeObject, policy: string): void {
    try {
      this.delete(r, o.metadata.namespace, o.metadata.name!, { propagationPolicy: policy });
    } catch {
      // Already gone: nothing to collect.
    }
  }

  private dropFinalizer(r: ResourceType, o: KubeObject, finalizer: string): void {
    const cur = this.store.get(r, o.metadata.namespace, o.metadata.name!);
    if (!cur) return;
    const rest = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    if (rest.length === 0 && !this.awaitingKubelet(r, cur)) {
      this.store.remove(r, cur.metadata.namespace, cur.metadata.name!);
      return;
    }
    if (rest.length) cur.metadata.finalizers = rest;
    else delete cur.metadata.finalizers;
    this.store.update(r, cur);
  }
}
