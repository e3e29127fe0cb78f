/** Discovery documents (/version, /api, /apis, APIResourceLists) in the legacy (non-aggregated) format. */
import type { ResourceType } from './resources.js';
import { RESOURCE_VERBS, RESOURCES } from './resources.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4-fake',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function groups(): string[] {
  return [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];
}

function groupDoc(group: string): Record<string, unknown> {
  const gv = { groupVersion: `${group}/v1`, version: 'v1' };
  return { name: group, versions: [gv], preferredVersion: gv };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroupList(): Record<string, unknown> {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups().map(groupDoc) };
}

export function apiGroup(group: string): Record<string, unknown> | undefined {
  return groups().includes(group)
    ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(group) }
    : undefined;
}

function resourceEntries(r: ResourceType): Record<string, unknown>[] {
  const main: Record<string, unknown> = {
    name: r.resource,
    singularName: r.singular,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: RESOURCE_VERBS,
  };
  if (r.shortNames.length) main.shortNames = r.shortNames;
  if (r.group === 'apps') main.categories = ['all'];
  if (r.kind === 'Pod' || r.kind === 'Service') main.categories = ['all'];
  const out = [main];
  for (const sub of r.subresources) {
    out.push(
      sub === 'log'
        ? {
            name: `${r.resource}/log`,
            singularName: '',
            namespaced: r.namespaced,
            kind: 'Pod',
            verbs: ['get'],
          }
        : sub === 'scale'
          ? {
              name: `${r.resource}/scale`,
              singularName: '',
              namespaced: r.namespaced,
              group: 'autoscaling',
              version: 'v1',
              kind: 'Scale',
              verbs: ['get', 'patch', 'update'],
            }
          : {
              name: `${r.resource}/${sub}`,
              singularName: '',
              namespaced: r.namespaced,
              kind: r.kind,
              verbs: ['get', 'patch', 'update'],
            },
    );
  }
  return out;
}

export function apiResourceList(
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: rs.flatMap(resourceEntries),
  };
}

/**
 * A minimal OpenAPI v3 index and per-group-version documents: only the PATCH operations with their
 * GVK and the `fieldValidation` query parameter. That is what kubectl inspects to decide that the
 * server validates fields itself (it then sends fieldValidation=Strict instead of validating client-side).
 */
export function openApiV3Index(): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of new Set(
    RESOURCES.map((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`)),
  )) {
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=fake` };
  }
  return { paths };
}

export function openApiV3Doc(gvPath: string): Record<string, unknown> | undefined {
  const rs = RESOURCES.filter(
    (r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`) === gvPath,
  );
  if (rs.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    const base = `/${gvPath}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}/{name}`;
    paths[base] = {
      patch: {
        operationId: `patch${r.kind}`,
        parameters: [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
        ],
        responses: { '200': { description: 'OK' } },
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (fake)', version: 'v1.32.4' },
    paths,
    components: { schemas: {} },
  };
}
