/**
 * What the real API server checks before storing: strict decoding (unknown fields, against
 * client-node's model attribute maps), the upstream OpenAPI schema (kubernetes-models' AJV
 * validators) and the hand-ported semantic checks of pkg/apis/apps/validation.
 */
import * as k8s from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { PersistentVolume } from 'kubernetes-models/v1/PersistentVolume';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1/StorageClass';
import type { ResourceType } from './resources.js';
import { selectorMatches } from './selectors.js';
import type { FieldError } from './status-errors.js';
import { badRequest, fieldErr, GoLiteral, invalid } from './status-errors.js';
import type { KubeObject } from './store.js';
import type { Loose, Obj } from './json.js';

type AttributeMap = Array<{ name: string; baseName: string; type: string }>;

function attributesOf(model: string): AttributeMap | undefined {
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>)[
    model
  ];
  return cls?.getAttributeTypeMap?.();
}

/** Paths of fields the typed schema does not know, formatted as the strict decoder does. */
export function unknownFields(model: string, value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const array = model.match(/^Array<(.+)>$/);
  if (array) {
    return Array.isArray(value)
      ? value.flatMap((v, i) => unknownFields(array[1]!, v, `${path}[${i}]`))
      : [];
  }
  const map = model.match(/^\{ \[key: string\]: (.+); \}$/);
  if (map) {
    return Object.entries(value as Obj).flatMap(([k, v]) =>
      unknownFields(map[1]!, v, path ? `${path}.${k}` : k),
    );
  }
  const attrs = attributesOf(model);
  if (!attrs || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Obj)) {
    const p = path ? `${path}.${k}` : k;
    const attr = attrs.find((a) => a.baseName === k);
    if (!attr) out.push(p);
    else out.push(...unknownFields(attr.type, v, p));
  }
  return out;
}

/** Deletes unknown fields (the default `fieldValidation=Warn` drops them) and returns their paths. */
export function pruneUnknownFields(model: string, obj: Obj): string[] {
  const paths = unknownFields(model, obj);
  for (const p of paths) {
    const parts = p.match(/[^.[\]]+/g) ?? [];
    let cur: Loose = obj;
    for (const part of parts.slice(0, -1)) cur = cur?.[part];
    if (cur && typeof cur === 'object') delete cur[parts[parts.length - 1]!];
  }
  return paths;
}

export function strictDecodingError(r: ResourceType, paths: string[]): Error {
  const list = paths.map((p) => `unknown field "${p}"`).join(', ');
  return badRequest(
    `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${list}`,
  );
}

const MODELS: Record<string, new (data: Loose) => { validate(): void }> = {
  Deployment,
  StatefulSet,
  ReplicaSet,
  Pod,
  Service,
  ConfigMap,
  Secret,
  Namespace,
  Lease,
  PersistentVolume,
  PersistentVolumeClaim,
  StorageClass,
};

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Obj;
  message?: string;
}

function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(obj: Obj, instancePath: string): unknown {
  return instancePath
    .split('/')
    .filter(Boolean)
    .reduce<Loose>((cur, p) => (cur == null ? undefined : cur[p]), obj);
}

/**
 * Schema validation. Type mismatches are decode errors (400) on a real server; missing required
 * fields and bad enum values are 422 field errors.
 */
function schemaErrors(r: ResourceType, o: KubeObject): FieldError[] {
  const Model = MODELS[r.kind];
  if (!Model) return [];
  try {
    // Status is written by controllers through /status and not validated with the spec.
    const copy = structuredClone(o);
    delete copy.status;
    new Model(copy).validate();
    return [];
  } catch (err) {
    const errors = ((err as { errors?: AjvError[] }).errors ?? []) as AjvError[];
    const typeErr = errors.find((e) => e.keyword === 'type');
    if (typeErr) {
      const got = valueAt(o, typeErr.instancePath);
      const gotType = Array.isArray(got) ? 'array' : got === null ? 'null' : typeof got;
      const goType = {
        integer: 'int32',
        string: 'string',
        boolean: 'bool',
        object: 'object',
        array: 'array',
        number: 'float64',
      }[String(typeErr.params.type)];
      throw badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: json: cannot unmarshal ${gotType} into Go struct field ${fieldPath(typeErr.instancePath)} of type ${goType ?? typeErr.params.type}`,
      );
    }
    return errors
      .filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if')
      .map((e): FieldError => {
        if (e.keyword === 'required')
          return fieldErr.required(fieldPath(e.instancePath, String(e.params.missingProperty)));
        if (e.keyword === 'enum') {
          return fieldErr.notSupported(
            fieldPath(e.instancePath),
            valueAt(o, e.instancePath),
            (e.params.allowedValues as string[]) ?? [],
          );
        }
        return fieldErr.invalid(
          fieldPath(e.instancePath),
          valueAt(o, e.instancePath),
          e.message ?? e.keyword,
        );
      });
  }
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function nameErrors(
  format: ResourceType['nameFormat'],
  name: string,
  field = 'metadata.name',
): FieldError[] {
  if (format === 'subdomain') {
    if (name.length > 253)
      return [fieldErr.invalid(field, name, 'must be no more than 253 characters')];
    if (!DNS1123_SUBDOMAIN.test(name)) {
      return [
        fieldErr.invalid(
          field,
          name,
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
      ];
    }
    return [];
  }
  if (name.length > 63)
    return [fieldErr.invalid(field, name, 'must be no more than 63 characters')];
  if (format === 'label' && !DNS1123_LABEL.test(name)) {
    return [
      fieldErr.invalid(
        field,
        name,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  if (format === 'dns1035' && !DNS1035_LABEL.test(name)) {
    return [
      fieldErr.invalid(
        field,
        name,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      ),
    ];
  }
  return [];
}

/** Go's %#v of a LabelSelector, as it appears in "field is immutable" messages. */
function goSelector(sel: Obj | undefined): GoLiteral {
  const ml = Object.entries((sel?.matchLabels ?? {}) as Record<string, string>);
  const labels = ml.length
    ? `map[string]string{${ml.map(([k, v]) => `"${k}":"${v}"`).join(', ')}}`
    : 'map[string]string(nil)';
  const me = (sel?.matchExpressions ?? []) as Obj[];
  const exprs = me.length
    ? `[]v1.LabelSelectorRequirement{${me.map((e) => `v1.LabelSelectorRequirement{Key:"${e.key}", Operator:"${e.operator}", Values:[]string{${((e.values ?? []) as string[]).map((v) => `"${v}"`).join(', ')}}}`).join(', ')}}`
    : '[]v1.LabelSelectorRequirement(nil)';
  return new GoLiteral(`v1.LabelSelector{MatchLabels:${labels}, MatchExpressions:${exprs}}`);
}

function selectorEmpty(sel: Obj | undefined): boolean {
  return (
    !sel ||
    (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)
  );
}

/** A port of ValidatePodTemplateSpecForReplicaSet's volume/container checks (the parts that bite). */
function podSpecErrors(
  spec: Obj | undefined,
  path: string,
  restartPolicies: string[],
): FieldError[] {
  const errs: FieldError[] = [];
  if (!spec) return [fieldErr.required(path)];
  const volumes = new Set<string>();
  ((spec.volumes ?? []) as Obj[]).forEach((v, i) => {
    if (volumes.has(v?.name)) errs.push(fieldErr.duplicate(`${path}.volumes[${i}].name`, v.name));
    volumes.add(v?.name);
  });
  if (!Array.isArray(spec.containers) || spec.containers.length === 0)
    errs.push(fieldErr.required(`${path}.containers`));
  const names = new Set<string>();
  for (const list of ['initContainers', 'containers']) {
    ((spec[list] ?? []) as Obj[]).forEach((c, i) => {
      const cp = `${path}.${list}[${i}]`;
      if (c?.name && names.has(c.name)) errs.push(fieldErr.duplicate(`${cp}.name`, c.name));
      if (c?.name) names.add(c.name);
      if (!c?.image) errs.push(fieldErr.required(`${cp}.image`));
      const mountPaths = new Set<string>();
      ((c?.volumeMounts ?? []) as Obj[]).forEach((m, j) => {
        const mp = `${cp}.volumeMounts[${j}]`;
        if (!volumes.has(m?.name)) errs.push(fieldErr.notFound(`${mp}.name`, m?.name ?? ''));
        if (mountPaths.has(m?.mountPath))
          errs.push(fieldErr.invalid(`${mp}.mountPath`, m.mountPath, 'must be unique'));
        mountPaths.add(m?.mountPath);
      });
    });
  }
  if (spec.restartPolicy && !restartPolicies.includes(spec.restartPolicy)) {
    errs.push(fieldErr.notSupported(`${path}.restartPolicy`, spec.restartPolicy, restartPolicies));
  }
  return errs;
}

function selectorAndTemplate(spec: Obj, kindLower: string): FieldError[] {
  const errs: FieldError[] = [];
  if (spec.selector && selectorEmpty(spec.selector)) {
    errs.push(
      fieldErr.invalid(
        'spec.selector',
        goSelector(spec.selector),
        `empty selector is invalid for ${kindLower}`,
      ),
    );
  } else if (spec.selector && !selectorMatches(spec.selector, spec.template?.metadata?.labels)) {
    errs.push(
      fieldErr.invalid(
        'spec.template.metadata.labels',
        spec.template?.metadata?.labels ?? {},
        '`selector` does not match template `labels`',
      ),
    );
  }
  if (typeof spec.replicas === 'number' && spec.replicas < 0) {
    errs.push(
      fieldErr.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0'),
    );
  }
  return errs;
}

function semanticErrors(r: ResourceType, o: KubeObject): FieldError[] {
  const spec = (o.spec ?? {}) as Obj;
  switch (r.kind) {
    case 'Deployment': {
      const errs = selectorAndTemplate(spec, 'deployment');
      errs.push(...podSpecErrors(spec.template?.spec, 'spec.template.spec', ['Always']));
      const pds = spec.progressDeadlineSeconds;
      if (typeof pds === 'number' && pds <= (spec.minReadySeconds ?? 0)) {
        errs.push(
          fieldErr.invalid(
            'spec.progressDeadlineSeconds',
            pds,
            'must be greater than minReadySeconds',
          ),
        );
      }
      const st = spec.strategy ?? {};
      if (st.type === 'Recreate' && st.rollingUpdate) {
        errs.push(
          fieldErr.forbidden(
            'spec.strategy.rollingUpdate',
            "may not be specified when strategy `type` is 'Recreate'",
          ),
        );
      }
      const ru = st.rollingUpdate;
      if (st.type === 'RollingUpdate' && ru && isZero(ru.maxSurge) && isZero(ru.maxUnavailable)) {
        errs.push(
          fieldErr.invalid(
            'spec.strategy.rollingUpdate.maxUnavailable',
            ru.maxUnavailable,
            'may not be 0 when `maxSurge` is 0',
          ),
        );
      }
      return errs;
    }
    case 'ReplicaSet': {
      const errs = selectorAndTemplate(spec, 'deployment');
      errs.push(...podSpecErrors(spec.template?.spec, 'spec.template.spec', ['Always']));
      return errs;
    }
    case 'StatefulSet': {
      // The StatefulSet pod template is deliberately not validated as a PodSpec upstream
      // (ValidatePodTemplateSpecForStatefulSet has a TODO); a dangling mount surfaces as pod FailedCreate.
      const errs = selectorAndTemplate(spec, 'statefulset');
      const rp = spec.template?.spec?.restartPolicy;
      if (rp && rp !== 'Always')
        errs.push(fieldErr.notSupported('spec.template.spec.restartPolicy', rp, ['Always']));
      return errs;
    }
    case 'Pod':
      return podSpecErrors(spec, 'spec', ['Always', 'OnFailure', 'Never']);
    case 'PersistentVolume':
      return persistentVolumeErrors(spec);
    case 'PersistentVolumeClaim':
      return claimSpecErrors(spec);
    default:
      return [];
  }
}

/** The volume sources a PV may carry (exactly one), as in core/v1 PersistentVolumeSource. */
const PV_SOURCES = [
  'hostPath',
  'local',
  'nfs',
  'csi',
  'iscsi',
  'fc',
  'rbd',
  'cephfs',
  'glusterfs',
  'awsElasticBlockStore',
  'gcePersistentDisk',
  'azureDisk',
  'azureFile',
];

/** Ported from ValidatePersistentVolumeSpec (pkg/apis/core/validation/validation.go). */
function persistentVolumeErrors(spec: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (!spec.accessModes?.length)
    errs.push(fieldErr.required('spec.accessModes', 'at least 1 access mode is required'));
  if (!spec.capacity?.storage) errs.push(fieldErr.required('spec.capacity', ''));
  const sources = PV_SOURCES.filter((k) => spec[k] !== undefined);
  if (sources.length === 0) errs.push(fieldErr.required('spec', 'must specify a volume type'));
  if (sources.length > 1)
    errs.push(fieldErr.forbidden(`spec.${sources[1]}`, 'may not specify more than 1 volume type'));
  if (spec.local) {
    if (!spec.local.path) errs.push(fieldErr.required('spec.local.path', ''));
    if (!spec.nodeAffinity?.required)
      errs.push(fieldErr.required('spec.nodeAffinity', 'Local volume requires node affinity'));
  }
  if (spec.hostPath && !spec.hostPath.path) errs.push(fieldErr.required('spec.hostPath.path', ''));
  if (spec.nfs && (!spec.nfs.server || !spec.nfs.path))
    errs.push(fieldErr.required(`spec.nfs.${spec.nfs.server ? 'path' : 'server'}`, ''));
  return errs;
}

/** Ported from ValidatePersistentVolumeClaimSpec. */
function claimSpecErrors(spec: Obj, path = 'spec'): FieldError[] {
  const errs: FieldError[] = [];
  if (!spec.accessModes?.length)
    errs.push(fieldErr.required(`${path}.accessModes`, 'at least 1 access mode is required'));
  if (!spec.resources?.requests?.storage)
    errs.push(fieldErr.required(`${path}.resources[storage]`, ''));
  return errs;
}

/** A claim's spec is immutable except requests (and volumeName while it is unset). */
function claimUpdateErrors(spec: Obj, oldSpec: Obj): FieldError[] {
  const strip = (s: Obj, volumeName: unknown): string => {
    const c = structuredClone(s);
    delete c.resources;
    delete c.volumeAttributesClassName;
    c.volumeName = volumeName;
    return stableJson(c);
  };
  // An unbound claim may get its volumeName once (the binder does this).
  const before = oldSpec.volumeName || null;
  if (strip(spec, before ? spec.volumeName : null) === strip(oldSpec, before)) return [];
  return [
    fieldErr.forbidden(
      'spec',
      'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
    ),
  ];
}

function isZero(v: unknown): boolean {
  return v === 0 || v === '0' || v === '0%';
}

const STS_UPDATABLE = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
];

function updateErrors(r: ResourceType, o: KubeObject, old: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = (o.spec ?? {}) as Obj;
  const oldSpec = (old.spec ?? {}) as Obj;
  if (r.kind === 'StatefulSet') {
    const strip = (s: Obj): string => {
      const c = { ...s };
      for (const k of STS_UPDATABLE) delete c[k];
      return stableJson(c);
    };
    if (strip(spec) !== strip(oldSpec)) {
      errs.push(
        fieldErr.forbidden(
          'spec',
          "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
      );
    }
  }
  if (r.kind === 'PersistentVolumeClaim') errs.push(...claimUpdateErrors(spec, oldSpec));
  if (
    (r.kind === 'Deployment' || r.kind === 'ReplicaSet') &&
    stableJson(spec.selector) !== stableJson(oldSpec.selector)
  ) {
    errs.push(fieldErr.invalid('spec.selector', goSelector(spec.selector), 'field is immutable'));
  }
  if ((r.kind === 'ConfigMap' || r.kind === 'Secret') && old.immutable === true) {
    if (
      stableJson(o.data) !== stableJson(old.data) ||
      stableJson(o.binaryData) !== stableJson(old.binaryData)
    ) {
      errs.push(fieldErr.forbidden('data', 'field is immutable when `immutable` is set'));
    }
    if (o.immutable !== true)
      errs.push(fieldErr.forbidden('immutable', 'field is immutable when `immutable` is set'));
  }
  if (
    r.kind === 'Service' &&
    oldSpec.clusterIP &&
    spec.clusterIP !== undefined &&
    spec.clusterIP !== oldSpec.clusterIP
  ) {
    errs.push(fieldErr.invalid('spec.clusterIP', spec.clusterIP, 'field is immutable'));
  }
  return errs;
}

/** Deterministic JSON (sorted keys) for equality checks. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/** Throws 400 (decode) or 422 (Invalid) like the real server; returns when the object is acceptable. */
export function validateObject(r: ResourceType, o: KubeObject, old?: KubeObject): void {
  const name = o.metadata.name ?? '';
  const errs: FieldError[] = [];
  errs.push(...schemaErrors(r, o));
  if (name) errs.push(...nameErrors(r.nameFormat, name));
  errs.push(...semanticErrors(r, o));
  if (old) errs.push(...updateErrors(r, o, old));
  if (errs.length > 0) throw invalid(r, name, dedupe(errs));
}

function dedupe(errs: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errs.filter((e) => {
    const k = `${e.field}|${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
