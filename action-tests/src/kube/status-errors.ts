/** `kind: Status` failures exactly as kube-apiserver writes them (apimachinery/pkg/api/errors). */
import type { ResourceType } from './resources.js';
import { qualifiedName } from './resources.js';

export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[] };
  code: number;
}

export class KubeStatusError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = 'KubeStatusError';
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

function failure(
  code: number,
  reason: string,
  message: string,
  details?: StatusBody['details'],
): KubeStatusError {
  const status: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) status.details = details;
  return new KubeStatusError(status);
}

function detailsOf(r: ResourceType, name: string): NonNullable<StatusBody['details']> {
  const d: NonNullable<StatusBody['details']> = { name };
  if (r.group) d.group = r.group;
  d.kind = r.resource;
  return d;
}

export function notFound(r: ResourceType, name: string): KubeStatusError {
  return failure(404, 'NotFound', `${qualifiedName(r)} "${name}" not found`, detailsOf(r, name));
}

export function alreadyExists(r: ResourceType, name: string): KubeStatusError {
  return failure(
    409,
    'AlreadyExists',
    `${qualifiedName(r)} "${name}" already exists`,
    detailsOf(r, name),
  );
}

export function conflict(
  r: ResourceType,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): KubeStatusError {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedName(r)} "${name}": ${why}`,
    detailsOf(r, name),
  );
}

export function badRequest(message: string): KubeStatusError {
  return failure(400, 'BadRequest', message);
}

export function forbidden(r: ResourceType, name: string, message: string): KubeStatusError {
  return failure(403, 'Forbidden', message, detailsOf(r, name));
}

export function unauthorized(): KubeStatusError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

export function methodNotAllowed(): KubeStatusError {
  return failure(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );
}

export function notFoundPath(): KubeStatusError {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function unsupportedMediaType(accepted: string[]): KubeStatusError {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

export function internalError(message: string): KubeStatusError {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ reason: '', message, field: '' }],
  });
}

/** A field error as field.Error renders it: `<field>: <type>: <detail>`. */
export interface FieldError {
  field: string;
  /** FieldValueInvalid, FieldValueRequired, FieldValueNotFound, FieldValueForbidden, FieldValueNotSupported, FieldValueDuplicate */
  type: string;
  /** The cause message without the field, e.g. `Not found: "dify-api-storage"`. */
  message: string;
}

export const fieldErr = {
  invalid: (field: string, value: unknown, detail: string): FieldError => ({
    field,
    type: 'FieldValueInvalid',
    message: `Invalid value: ${goValue(value)}: ${detail}`,
  }),
  required: (field: string, detail = ''): FieldError => ({
    field,
    type: 'FieldValueRequired',
    message: detail ? `Required value: ${detail}` : 'Required value',
  }),
  notFound: (field: string, value: unknown): FieldError => ({
    field,
    type: 'FieldValueNotFound',
    message: `Not found: ${goValue(value)}`,
  }),
  forbidden: (field: string, detail: string): FieldError => ({
    field,
    type: 'FieldValueForbidden',
    message: `Forbidden: ${detail}`,
  }),
  duplicate: (field: string, value: unknown): FieldError => ({
    field,
    type: 'FieldValueDuplicate',
    message: `Duplicate value: ${goValue(value)}`,
  }),
  notSupported: (field: string, value: unknown, supported: string[]): FieldError => ({
    field,
    type: 'FieldValueNotSupported',
    message: `Unsupported value: ${goValue(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
  }),
};

/** A value already rendered the Go way (e.g. a struct's %#v). */
export class GoLiteral {
  constructor(readonly text: string) {}
}

/** Approximates Go's %#v / %q rendering of the offending value. */
function goValue(v: unknown): string {
  if (v instanceof GoLiteral) return v.text;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.every(([, x]) => typeof x === 'string')) {
      return `map[string]string{${entries.map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(x)}`).join(', ')}}`;
    }
  }
  return JSON.stringify(v);
}

/** 422 Invalid: `Deployment.apps "x" is invalid: <field>: <msg>` (several errors in brackets). */
export function invalid(r: ResourceType, name: string, errors: FieldError[]): KubeStatusError {
  const kindGroup = r.group ? `${r.kind}.${r.group}` : r.kind;
  const rendered = errors.map((e) => `${e.field}: ${e.message}`);
  const summary = rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`;
  const details: NonNullable<StatusBody['details']> = { name };
  if (r.group) details.group = r.group;
  details.kind = r.kind;
  details.causes = errors.map((e) => ({ reason: e.type, message: e.message, field: e.field }));
  return failure(422, 'Invalid', `${kindGroup} "${name}" is invalid: ${summary}`, details);
}
