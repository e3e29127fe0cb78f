/**
 * A fake kube-apiserver on 127.0.0.1 (ephemeral port) serving the resources the migration touches,
 * for @kubernetes/client-node and kubectl. Semantics live in api-operations.ts; this file maps HTTP.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import type {
  DeleteOptions,
  FieldValidation,
  Subresource,
  WriteOptions,
} from './api-operations.js';
import { KubeApi } from './api-operations.js';
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiV3Doc,
  openApiV3Index,
  SERVER_VERSION,
} from './discovery.js';
import type { ResourceType } from './resources.js';
import { findResource, qualifiedName } from './resources.js';
import type { StatusBody } from './status-errors.js';
import {
  badRequest,
  forbidden,
  KubeStatusError,
  methodNotAllowed,
  notFoundPath,
  unauthorized,
  unsupportedMediaType,
} from './status-errors.js';
import type { KubeObject, StoreEvent } from './store.js';
import { ObjectStore } from './store.js';
import { decodeKubeProtobuf } from './protobuf.js';
import { forbiddenMessage, requestVerb, type RequestAttributes } from './rbac.js';
import { toTable, wantsTable } from './table.js';
import { listenDual } from './tls.js';

export interface FakeApiServerOptions {
  /** Bearer token to require (random by default). */
  token?: string;
  /** Context namespace written into the kubeconfig (default `dify`). */
  namespace?: string;
  /** Namespaces that exist at start (default: default, kube-system, kube-public, kube-node-lease and `namespace`). */
  namespaces?: string[];
  /** Delay of the simulated garbage collector (default 50 ms). */
  gcDelayMs?: number;
  /** Where to write the kubeconfig (default: a fresh temp dir, removed by close()). */
  kubeconfigPath?: string;
  /** Called for every request (method, path, status): debugging aid. */
  onRequest?: (method: string, url: string, status: number) => void;
  /** More identities: token → user name (`token` is the user `admin`). */
  users?: Record<string, string>;
  /** RBAC: false denies a resource request with 403 Forbidden, as kube-apiserver does. */
  authorize?: (a: RequestAttributes) => boolean;
  /** Called for every resource request with what RBAC sees of it and the response status. */
  onAccess?: (a: RequestAttributes, status: number) => void;
}

export interface FakeApiServer {
  /** https://127.0.0.1:<port> (self-signed; the kubeconfig skips verification). */
  url: string;
  /** The same server over plain HTTP (client-node accepts it with skipTLSVerify; kubectl sends no token over HTTP). */
  httpUrl: string;
  token: string;
  kubeconfigPath: string;
  /** Raw objects (no API semantics) and the change feed. */
  store: ObjectStore;
  /** The API semantics, callable in-process (what the HTTP handlers call). */
  api: KubeApi;
  close(): Promise<void>;
}

interface ParsedPath {
  resource: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
}

/** /api/v1/..., /apis/<group>/<version>/... → resource, namespace, name, subresource. */
function parseResourcePath(segments: string[]): ParsedPath | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (segments[0] === 'api') {
    version = segments[1] ?? '';
    rest = segments.slice(2);
  } else if (segments[0] === 'apis') {
    group = segments[1] ?? '';
    version = segments[2] ?? '';
    rest = segments.slice(3);
  } else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const r = findResource(group, version, rest[2]!);
    if (!r || !r.namespaced || rest.length > 5) return undefined;
    return { resource: r, namespace: rest[1], name: rest[3], sub: rest[4] };
  }
  const r = findResource(group, version, rest[0] ?? '');
  if (!r || rest.length > 3) return undefined;
  if (r.namespaced && rest.length > 1) return undefined;
  return { resource: r, namespace: undefined, name: rest[1], sub: rest[2] };
}

function send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (warnings.length) headers.Warning = warnings;
  res.writeHead(code, headers);
  res.end(text);
}

function sendStatus(res: ServerResponse, status: StatusBody): void {
  send(res, status.code, status);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Request bodies: JSON, YAML, or protobuf for the few kinds kubectl's generators send (else 415). */
function parseBody(body: Buffer, contentType: string | undefined): unknown {
  if (/protobuf/i.test(contentType ?? '')) {
    try {
      return decodeKubeProtobuf(body);
    } catch {
      throw unsupportedMediaType(['application/json', 'application/yaml']);
    }
  }
  if (/cbor/i.test(contentType ?? ''))
    throw unsupportedMediaType(['application/json', 'application/yaml']);
  const text = body.toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return /yaml/i.test(contentType ?? '') ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

function writeOptions(q: URLSearchParams): WriteOptions {
  const fv = q.get('fieldValidation');
  const opts: WriteOptions = {};
  if (fv) {
    if (!['Strict', 'Warn', 'Ignore'].includes(fv)) {
      throw badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got "${fv}"`);
    }
    opts.fieldValidation = fv as FieldValidation;
  }
  if (q.getAll('dryRun').includes('All')) opts.dryRun = true;
  return opts;
}

function deleteOptions(body: DeleteOptions, q: URLSearchParams): DeleteOptions {
  const d: DeleteOptions = { ...body };
  if (q.get('propagationPolicy')) d.propagationPolicy = q.get('propagationPolicy')!;
  if (q.get('orphanDependents')) d.orphanDependents = q.get('orphanDependents') === 'true';
  if (q.get('gracePeriodSeconds')) d.gracePeriodSeconds = Number(q.get('gracePeriodSeconds'));
  if (q.getAll('dryRun').includes('All')) d.dryRun = true;
  return d;
}

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const token = opts.token ?? randomBytes(16).toString('hex');
  const namespace = opts.namespace ?? 'dify';
  const store = new ObjectStore();
  const api = new KubeApi(store, opts.gcDelayMs === undefined ? {} : { gcDelayMs: opts.gcDelayMs });
  for (const ns of opts.namespaces ?? [
    'default',
    'kube-system',
    'kube-public',
    'kube-node-lease',
    namespace,
  ]) {
    if (!store.get('namespaces', undefined, ns))
      api.create('namespaces', undefined, { metadata: { name: ns } });
  }
  let address = '127.0.0.1:0';
  const watches = new Set<() => void>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const q = url.searchParams;
    const method = (req.method ?? 'GET').toUpperCase();
    const auth = req.headers.authorization ?? '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    const user = bearer === token ? 'admin' : opts.users?.[bearer];
    if (!user) throw unauthorized();
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const path = '/' + segments.join('/');

    // Discovery.
    if (method === 'GET') {
      if (path === '/version') return send(res, 200, SERVER_VERSION);
      if (path === '/api') return send(res, 200, apiVersions(address));
      if (path === '/apis') return send(res, 200, apiGroupList());
      if (path === '/api/v1') return send(res, 200, apiResourceList('', 'v1'));
      if (path === '/openapi/v3') return send(res, 200, openApiV3Index());
      if (path.startsWith('/openapi/v3/')) {
        const doc = openApiV3Doc(path.slice('/openapi/v3/'.length));
        if (doc) return send(res, 200, doc);
      }
      if (segments[0] === 'apis' && segments.length === 2) {
        const g = apiGroup(segments[1]!);
        if (g) return send(res, 200, g);
      }
      if (segments[0] === 'apis' && segments.length === 3) {
        const l = apiResourceList(segments[1]!, segments[2]!);
        if (l) return send(res, 200, l);
      }
    }
    const p = parseResourcePath(segments);
    if (!p) throw notFoundPath();
    const { resource: r, namespace: ns, name, sub } = p;
    if (sub !== undefined && !r.subresources.includes(sub)) throw notFoundPath();
    const attrs: RequestAttributes = {
      user,
      verb: requestVerb(method, !!name, q.get('watch') === 'true' || q.get('watch') === '1'),
      apiGroup: r.group,
      resource: sub ? `${r.resource}/${sub}` : r.resource,
      namespace: ns,
      name: method === 'POST' && !sub ? '' : (name ?? ''),
    };
    accessOf.set(req, attrs);
    if (opts.authorize && !opts.authorize(attrs))
      throw forbidden(r, name ?? '', forbiddenMessage(attrs, qualifiedName(r)));

    if (!name) {
      if (method === 'GET') {
        const listOpts = {
          labelSelector: q.get('labelSelector') ?? '',
          fieldSelector: q.get('fieldSelector') ?? '',
        };
        if (q.get('watch') === 'true' || q.get('watch') === '1')
          return watch(req, res, r, ns, listOpts, q);
        const list = api.list(r, ns, listOpts);
        if (wantsTable(req.headers.accept)) {
          return send(res, 200, toTable(r, list.items as KubeObject[], store.resourceVersion));
        }
        return send(res, 200, list);
      }
      if (method === 'DELETE') {
        const listOpts = {
          labelSelector: q.get('labelSelector') ?? '',
          fieldSelector: q.get('fieldSelector') ?? '',
        };
        const d = deleteOptions(
          (parseBody(await readBody(req), req.headers['content-type']) ?? {}) as DeleteOptions,
          q,
        );
        return send(res, 200, api.deleteCollection(r, ns, listOpts, d));
      }
      if (method === 'POST') {
        if (r.namespaced && !ns) throw methodNotAllowed();
        const body = parseBody(await readBody(req), req.headers['content-type']);
        const result = api.create(r, ns, body, writeOptions(q));
        return send(res, 201, result.object, result.warnings);
      }
      throw methodNotAllowed();
    }
    if (r.namespaced && !ns) throw notFoundPath();
    switch (method) {
      case 'GET':
        if (sub === 'log') {
          const tail = q.get('tailLines');
          const text = api.podLogs(
            ns!,
            name,
            q.get('container') ?? undefined,
            tail === null ? undefined : Number(tail),
          );
          res.writeHead(200, {
            'Content-Type': 'text/plain',
            'Content-Length': String(Buffer.byteLength(text)),
          });
          res.end(text);
          return;
        }
        if (sub === 'scale') return send(res, 200, api.getScale(r, ns, name));
        if (!sub && wantsTable(req.headers.accept))
          return send(res, 200, toTable(r, [api.get(r, ns, name)], store.resourceVersion));
        return send(res, 200, api.get(r, ns, name));
      case 'PUT': {
        const body = parseBody(await readBody(req), req.headers['content-type']);
        if (sub === 'scale')
          return send(res, 200, api.replaceScale(r, ns, name, body, writeOptions(q)));
        const result = api.replace(r, ns, name, body, writeOptions(q), sub as Subresource);
        return send(res, 200, result.object, result.warnings);
      }
      case 'PATCH': {
        const text = (await readBody(req)).toString('utf8');
        const result = api.patch(
          r,
          ns,
          name,
          req.headers['content-type'] ?? '',
          text,
          writeOptions(q),
          sub as Subresource,
        );
        return send(res, 200, result.object, result.warnings);
      }
      case 'DELETE': {
        if (sub) throw methodNotAllowed();
        const d = deleteOptions(
          (parseBody(await readBody(req), req.headers['content-type']) ?? {}) as DeleteOptions,
          q,
        );
        const result = api.delete(r, ns, name, d);
        return send(res, result.code, result.body);
      }
      default:
        throw methodNotAllowed();
    }
  };

  /** Chunked newline-delimited watch events; history replay from resourceVersion, 410 when too old. */
  const watch = (
    req: IncomingMessage,
    res: ServerResponse,
    r: ResourceType,
    ns: string | undefined,
    listOpts: { labelSelector: string; fieldSelector: string },
    q: URLSearchParams,
  ): void => {
    const matches = api.matcher(r, listOpts);
    const rv = q.get('resourceVersion');
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    const write = (type: string, object: unknown): void => {
      res.write(JSON.stringify({ type, object }) + '\n');
    };
    const relevant = (e: StoreEvent): boolean =>
      e.resource === r &&
      (ns === undefined || e.object.metadata.namespace === ns) &&
      matches(e.object);
    if (!rv || rv === '0') {
      for (const o of store.list(r, ns)) if (matches(o)) write('ADDED', o);
    } else {
      const from = Number(rv);
      if (!Number.isFinite(from) || from < store.oldestWatchableVersion) {
        write('ERROR', {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${rv} (${store.oldestWatchableVersion})`,
          reason: 'Expired',
          code: 410,
        });
        res.end();
        return;
      }
      for (const e of store.eventsSince(from)) if (relevant(e)) write(e.type, e.object);
    }
    const unsubscribe = store.subscribe((e) => {
      if (relevant(e)) write(e.type, e.object as KubeObject);
    });
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      watches.delete(stop);
      if (!res.writableEnded) res.end();
    };
    if (timeout > 0) timer = setTimeout(stop, timeout * 1000);
    watches.add(stop);
    req.on('close', stop);
  };

  const accessOf = new WeakMap<IncomingMessage, RequestAttributes>();
  const done = (req: IncomingMessage, res: ServerResponse) => {
    opts.onRequest?.(req.method ?? '', req.url ?? '', res.statusCode);
    const a = accessOf.get(req);
    if (a) opts.onAccess?.(a, res.statusCode);
  };
  const dual = await listenDual((req, res) => {
    handle(req, res)
      .catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof KubeStatusError) sendStatus(res, err.status);
        else {
          sendStatus(res, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: `Internal error occurred: ${(err as Error).message}`,
            reason: 'InternalError',
            code: 500,
          });
        }
      })
      .finally(() => {
        if (res.writableFinished) done(req, res);
        else res.on('finish', () => done(req, res));
      });
  });
  const port = dual.port;
  address = `127.0.0.1:${port}`;
  const url = `https://127.0.0.1:${port}`;
  const httpUrl = `http://127.0.0.1:${port}`;

  let ownDir: string | undefined;
  let kubeconfigPath = opts.kubeconfigPath;
  if (!kubeconfigPath) {
    ownDir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
    kubeconfigPath = join(ownDir, 'kubeconfig');
  }
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake-user', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user', namespace } }],
    'current-context': 'fake',
    preferences: {},
  };
  await writeFile(kubeconfigPath, YAML.stringify(kubeconfig), { mode: 0o600 });

  let closed = false;
  return {
    url,
    httpUrl,
    token,
    kubeconfigPath,
    store,
    api,
    async close() {
      if (closed) return;
      closed = true;
      for (const stop of [...watches]) stop();
      api.close();
      await dual.close();
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}
