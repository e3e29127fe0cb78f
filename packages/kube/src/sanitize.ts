import type { Redactor } from './redact.js';
import { isRecord, type KubeObject, type Secret } from './types.js';

const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'generation',
  'managedFields',
  'ownerReferences',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generateName',
];

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Returns a copy of an object fit to be created again: server-set metadata, status and the
 * client-side-apply annotation removed; for Services the allocated cluster IPs (unless
 * headless) and node ports removed, which the server would refuse or re-allocate anyway.
 */
export function sanitizeObject<T extends KubeObject>(object: T, kind?: string): T {
  const copy = structuredClone(object);
  if (kind && !copy.kind) copy.kind = kind;
  delete copy.status;
  const metadata = copy.metadata;
  if (metadata) {
    for (const key of SERVER_METADATA) delete metadata[key];
    if (metadata.annotations) {
      delete metadata.annotations[LAST_APPLIED_ANNOTATION];
      if (Object.keys(metadata.annotations).length === 0) delete metadata.annotations;
    }
  }
  if (copy.kind === 'Service' && isRecord(copy.spec)) sanitizeServiceSpec(copy.spec);
  return copy;
}

function sanitizeServiceSpec(spec: Record<string, unknown>): void {
  if (spec.clusterIP !== 'None') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  delete spec.healthCheckNodePort;
  if (Array.isArray(spec.ports)) {
    for (const port of spec.ports) if (isRecord(port)) delete port.nodePort;
  }
}

/** What a backup keeps of a Secret: its name, type and, per key, a digest — never a value. */
export interface SecretDigest {
  name: string;
  namespace?: string;
  type?: string;
  /** key → HMAC-SHA256 (hex) of the decoded value under the backup's redaction key. */
  keys: Record<string, string>;
}

/** Digests are HMACs under the backup's redaction key: salted per backup, not brute-forceable. */
export function secretDigest(secret: Secret, redactor: Redactor): SecretDigest {
  const keys: Record<string, string> = {};
  for (const [key, base64] of Object.entries(secret.data ?? {})) {
    keys[key] = redactor.digest(Buffer.from(base64, 'base64'));
  }
  for (const [key, text] of Object.entries(secret.stringData ?? {})) {
    keys[key] = redactor.digest(text);
  }
  return {
    name: secret.metadata?.name ?? '',
    ...(secret.metadata?.namespace ? { namespace: secret.metadata.namespace } : {}),
    ...(secret.type ? { type: secret.type } : {}),
    keys,
  };
}

/**
 * True when `expected` is contained in `actual`: every field of `expected` is present with an
 * equal value, arrays have the same length and match element-wise. Fields the server adds as
 * defaults (present only in `actual`) do not count as a difference.
 */
export function isSubset(expected: unknown, actual: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      expected.length === actual.length &&
      expected.every((item, i) => isSubset(item, actual[i]))
    );
  }
  if (isRecord(expected)) {
    if (!isRecord(actual)) return false;
    return Object.entries(expected).every(([key, value]) =>
      value === undefined ? true : isSubset(value, actual[key]),
    );
  }
  return expected === actual;
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return isSubset(a, b) && isSubset(b, a);
}
