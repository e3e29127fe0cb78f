import { Redactor } from './redact.js';
import { isRecord } from './types.js';

export interface FieldChange {
  /** Dotted path; list items are addressed by name (`containers[name=api]`) when they have one. */
  path: string;
  change: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

/** Field-by-field differences between two JSON values. */
export function diffJson(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (isRecord(before) && isRecord(after)) {
    const changes: FieldChange[] = [];
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    for (const key of keys) {
      const sub = path ? `${path}.${key}` : key;
      if (!(key in after) || after[key] === undefined) {
        if (before[key] !== undefined)
          changes.push({ path: sub, change: 'removed', before: before[key] });
      } else if (!(key in before) || before[key] === undefined) {
        changes.push({ path: sub, change: 'added', after: after[key] });
      } else {
        changes.push(...diffJson(before[key], after[key], sub));
      }
    }
    return changes;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const key = listKey(before, after);
    if (key)
      return diffKeyedList(
        before as Record<string, unknown>[],
        after as Record<string, unknown>[],
        key,
        path,
      );
    if (before.length === after.length) {
      return before.flatMap((item, i) => diffJson(item, after[i], `${path}[${i}]`));
    }
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ path, change: 'changed', before, after }];
}

/** A field that identifies list items in both lists (name, else mountPath), if any. */
function listKey(a: unknown[], b: unknown[]): string | undefined {
  for (const key of ['name', 'mountPath']) {
    const ok = (list: unknown[]): boolean => {
      const values = list.map((item) => (isRecord(item) ? item[key] : undefined));
      return values.every((v) => typeof v === 'string') && new Set(values).size === values.length;
    };
    if (ok(a) && ok(b) && (a.length || b.length)) return key;
  }
  return undefined;
}

function diffKeyedList(
  before: Record<string, unknown>[],
  after: Record<string, unknown>[],
  key: string,
  path: string,
): FieldChange[] {
  const changes: FieldChange[] = [];
  const afterBy = new Map(after.map((item) => [item[key] as string, item]));
  const beforeBy = new Map(before.map((item) => [item[key] as string, item]));
  for (const item of before) {
    const id = item[key] as string;
    const sub = `${path}[${key}=${id}]`;
    const other = afterBy.get(id);
    if (other === undefined) changes.push({ path: sub, change: 'removed', before: item });
    else changes.push(...diffJson(item, other, sub));
  }
  for (const item of after) {
    const id = item[key] as string;
    if (!beforeBy.has(id))
      changes.push({ path: `${path}[${key}=${id}]`, change: 'added', after: item });
  }
  return changes;
}

const SECRET_NAME =
  /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|ACCESS_KEY|API_KEY|_KEY$|^KEY$)/i;

export const REDACTED = '<redacted>';

/** True for names whose values are probably secrets (SECRET_KEY, DB_PASSWORD, S3_ACCESS_KEY…). */
export function looksSecret(name: string): boolean {
  return !SCHEMA_FIELDS.has(name) && SECRET_NAME.test(name);
}

/** Field names of the Kubernetes schema that only name or point at secrets. */
const SCHEMA_FIELDS = new Set(['key', 'name', 'secretKeyRef', 'secretRef', 'secretName', 'secret']);

/** One key per process for marks outside a backup (plan, reports): comparable within a run only. */
const processRedactor = new Redactor();

/**
 * A copy fit to leave the node (see redact.ts): values by allowlist, URL credentials stripped,
 * structure, names and references kept.
 */
export function redactDeep(value: unknown, keyHint?: string, redactor = processRedactor): unknown {
  return redactor.deep(value, keyHint);
}

/** Redacts a change list: env values and ConfigMap entries by allowlist, the rest deeply. */
export function redactChanges(changes: FieldChange[], redactor = processRedactor): FieldChange[] {
  return changes.map((c) => {
    const last = c.path.match(/([^.[\]=]+)\]?$/)?.[1] ?? '';
    const setting =
      /\[name=([^\]]+)\]\.value$/.exec(c.path)?.[1] ??
      /(?:^|\.)data\.([^.[\]]+)$/.exec(c.path)?.[1];
    const fix = (v: unknown): unknown =>
      setting !== undefined ? redactor.named(setting, v) : redactor.deep(v, last);
    return {
      ...c,
      ...('before' in c ? { before: fix(c.before) } : {}),
      ...('after' in c ? { after: fix(c.after) } : {}),
    };
  });
}
