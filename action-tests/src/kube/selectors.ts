/** Label selectors (string form from URLs, object form from specs) and field selectors. */
import { badRequest } from './status-errors.js';
import type { KubeObject } from './store.js';

export interface Requirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!=';
  values: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** Splits on commas outside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`; throws a 400 BadRequest on bad syntax. */
export function parseLabelSelector(s: string): Requirement[] {
  const reqs: Requirement[] = [];
  for (const term of splitTerms(s)) {
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      reqs.push({
        key: m[1]!,
        op: m[2] as 'in' | 'notin',
        values: m[3]!
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      });
    } else if ((m = term.match(/^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/))) {
      reqs.push({ key: m[1]!, op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] });
    } else if ((m = term.match(/^!\s*([A-Za-z0-9._/-]+)$/))) {
      reqs.push({ key: m[1]!, op: '!exists', values: [] });
    } else if ((m = term.match(/^([A-Za-z0-9._/-]+)$/))) {
      reqs.push({ key: m[1]!, op: 'exists', values: [] });
    } else {
      throw badRequest(
        `unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`,
      );
    }
  }
  return reqs;
}

export function matchesRequirements(
  labels: Record<string, string> | undefined,
  reqs: Requirement[],
): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}

export function selectorRequirements(sel: LabelSelector | undefined): Requirement[] {
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(sel?.matchLabels ?? {}))
    reqs.push({ key, op: '=', values: [value] });
  for (const e of sel?.matchExpressions ?? []) {
    const op = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' }[
      e.operator
    ] as Requirement['op'] | undefined;
    if (op) reqs.push({ key: e.key, op, values: e.values ?? [] });
  }
  return reqs;
}

/** A spec selector against labels. An empty selector matches everything (as metav1.LabelSelectorAsSelector). */
export function selectorMatches(
  sel: LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  return matchesRequirements(labels, selectorRequirements(sel));
}

/** The string form used in Scale.status.selector and by kubectl. */
export function selectorToString(sel: LabelSelector | undefined): string {
  return selectorRequirements(sel)
    .map((r) => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0]}`;
        case '!=':
          return `${r.key}!=${r.values[0]}`;
        case 'in':
          return `${r.key} in (${[...r.values].sort().join(',')})`;
        case 'notin':
          return `${r.key} notin (${[...r.values].sort().join(',')})`;
        case 'exists':
          return r.key;
        case '!exists':
          return `!${r.key}`;
      }
    })
    .join(',');
}

const FIELD_GETTERS: Record<string, (o: KubeObject) => string | undefined> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
};
const POD_FIELDS: Record<string, (o: KubeObject) => string | undefined> = {
  'spec.nodeName': (o) => (o.spec?.nodeName as string | undefined) ?? '',
  'status.phase': (o) => (o.status?.phase as string | undefined) ?? '',
};

/** What `kubectl describe` filters events by. */
const EVENT_FIELDS: Record<string, (o: KubeObject) => string | undefined> = {
  reason: (o) => String(o.reason ?? ''),
  type: (o) => String(o.type ?? ''),
  source: (o) => String(o.source?.component ?? ''),
};
for (const k of [
  'kind',
  'namespace',
  'name',
  'uid',
  'apiVersion',
  'resourceVersion',
  'fieldPath',
]) {
  EVENT_FIELDS[`involvedObject.${k}`] = (o) => String(o.involvedObject?.[k] ?? '');
}

export type FieldFilter = (o: KubeObject) => boolean;

/** Parses `metadata.name=x,metadata.namespace!=y` (pods also spec.nodeName, status.phase). */
export function parseFieldSelector(s: string, kind: string): FieldFilter {
  const getters =
    kind === 'Pod'
      ? { ...FIELD_GETTERS, ...POD_FIELDS }
      : kind === 'Event'
        ? { ...FIELD_GETTERS, ...EVENT_FIELDS }
        : FIELD_GETTERS;
  const tests: FieldFilter[] = [];
  for (const term of splitTerms(s)) {
    const m = term.match(/^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const getter = getters[m[1]!];
    if (!getter) {
      throw badRequest(`field label not supported: ${m[1]}`);
    }
    const want = m[3]!;
    tests.push(m[2] === '!=' ? (o) => getter(o) !== want : (o) => getter(o) === want);
  }
  return (o) => tests.every((t) => t(o));
}
