import { createHmac, randomBytes } from 'node:crypto';
import { STORAGE_SETTING_KEYS } from './convert.js';
import { isRecord } from './types.js';

/**
 * Redaction of what leaves the node (artifacts, plan, summaries, logs) by allowlist: a value is
 * shown only when its key is a known non-secret Dify setting (the ones the plan and the fidelity
 * checks must show). Everything else becomes `<redacted hmac:…>`, an HMAC whose key stays on the
 * node with the full backup: a reader sees *that* a value changed, never enough to brute-force a
 * short password. Redaction by key name alone leaked `CELERY_BROKER_URL=redis://:pw@…`,
 * `SQLALCHEMY_DATABASE_URI`, dockerconfigjson and `--password=…` args.
 */
export const NON_SECRET_KEYS: ReadonlySet<string> = new Set([
  ...STORAGE_SETTING_KEYS,
  'OPENDAL_SCHEME',
  'OPENDAL_FS_ROOT',
  'STORAGE_LOCAL_PATH',
  'PLUGIN_STORAGE_TYPE',
  'LOG_FILE',
  'MODE',
  'LOG_LEVEL',
  'DEPLOY_ENV',
  'CONSOLE_API_URL',
]);

/** Words of a container command line that are never secret; every other word is hashed. */
const NON_SECRET_ARGS: ReadonlySet<string> = new Set([
  '/bin/sh',
  '/bin/bash',
  'sh',
  'bash',
  '-c',
  '/entrypoint.sh',
  'python',
  'python3',
  'flask',
  'celery',
  'gunicorn',
  'worker',
  'api',
]);

/** Annotations whose values are ours or the controller's bookkeeping, never a secret. */
const SAFE_ANNOTATION = /^(dify-storage\.io\/|deployment\.kubernetes\.io\/)/;

const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/gi;

/** `redis://:pw@host` → `redis://host`: URL credentials never leave the node, in any string. */
export function stripUserinfo(text: string): string {
  return text.replace(USERINFO, '$1');
}

export const REDACTED_PREFIX = '<redacted hmac:';

export class Redactor {
  /** `key`: the backup's redaction key (0600 beside it); random when nothing is kept. */
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  static newKey(): Buffer {
    return randomBytes(32);
  }

  /** The HMAC of a value: equal values give equal marks within one key, nothing more. */
  mark(value: unknown): string {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    const hex = createHmac('sha256', this.key).update(text).digest('hex').slice(0, 12);
    return `${REDACTED_PREFIX}${hex}>`;
  }

  /** Full-length HMAC hex (per-backup salted digest of a Secret value, for change detection). */
  digest(value: Buffer | string): string {
    return createHmac('sha256', this.key).update(value).digest('hex');
  }

  /** The value of setting `name`: shown (without URL credentials) only when allowlisted. */
  named(name: string, value: unknown): unknown {
    if (value === undefined || value === null) return value;
    if (NON_SECRET_KEYS.has(name) && typeof value !== 'object') {
      return stripUserinfo(String(value));
    }
    return this.mark(value);
  }

  /** A deep copy of any JSON value (a Kubernetes object, a fragment of one) fit to leave the node. */
  deep(value: unknown, keyHint?: string, secretData = false): unknown {
    if (typeof value === 'string') return stripUserinfo(value);
    if (Array.isArray(value)) {
      if (keyHint === 'args' || keyHint === 'command') {
        return value.map((v) =>
          typeof v === 'string' && NON_SECRET_ARGS.has(v) ? v : this.mark(v),
        );
      }
      return value.map((v) => this.deep(v));
    }
    if (!isRecord(value)) return value;
    if (keyHint === 'data' || keyHint === 'stringData' || keyHint === 'binaryData') {
      return this.mapValues(value, secretData || keyHint === 'binaryData');
    }
    const isSecret = secretData || value.kind === 'Secret';
    const out: Record<string, unknown> = {};
    const envName = typeof value.name === 'string' && 'value' in value ? value.name : undefined;
    for (const [k, v] of Object.entries(value)) {
      if (k === 'value' && envName !== undefined) out[k] = this.named(envName, v);
      else if ((k === 'data' || k === 'stringData' || k === 'binaryData') && isRecord(v)) {
        out[k] = this.mapValues(v, isSecret || k === 'binaryData');
      } else if (k === 'annotations' && isRecord(v)) {
        out[k] = Object.fromEntries(
          Object.entries(v).map(([a, t]) => [a, SAFE_ANNOTATION.test(a) ? t : this.mark(t)]),
        );
      } else out[k] = this.deep(v, k);
    }
    return out;
  }

  /** ConfigMap/Secret data: names kept, values by allowlist (a Secret's: always hashed). */
  mapValues(data: Record<string, unknown>, allSecret: boolean): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, allSecret ? this.mark(v) : this.named(k, v)]),
    );
  }
}
