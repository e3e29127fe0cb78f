import { KubeConfig, RequestContext, type HttpMethod } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { KubeApiError, KubeUnreachableError, isConflict } from './errors.js';
import { KINDS, objectPath, type KindName } from './paths.js';
import type { KubeObject, ObjectList } from './types.js';
import { sleep } from '@dify-storage/common';

export interface KubeClientOptions {
  /** Path of a kubeconfig file. */
  kubeconfigPath?: string;
  /** Content of a kubeconfig (YAML); never written to disk by this library. */
  kubeconfig?: string;
  /** Context to use instead of the file's current-context. */
  context?: string;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
}

export type PatchType = 'merge' | 'json';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
};

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | undefined>;
  contentType?: string;
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

/**
 * A thin JSON client over the API server that authenticates exactly like
 * @kubernetes/client-node 2.x (token, client certificate, exec plugins, CA, skip-TLS) but reads
 * and writes raw JSON: the typed models silently drop fields they do not know.
 */
export class KubeClient {
  readonly kubeConfig: KubeConfig;
  /** Namespace of the current context, `default` when it names none. */
  readonly defaultNamespace: string;
  private readonly requestTimeoutMs: number;

  constructor(kubeConfig: KubeConfig, options: { requestTimeoutMs?: number } = {}) {
    this.kubeConfig = kubeConfig;
    const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
    this.defaultNamespace = context?.namespace ?? 'default';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** Loads a kubeconfig from a path, from its content, or by the default rules ($KUBECONFIG, ~/.kube/config, in-cluster). */
  static load(options: KubeClientOptions = {}): KubeClient {
    const kc = new KubeConfig();
    if (options.kubeconfigPath && options.kubeconfig) {
      throw new Error('pass either kubeconfigPath or kubeconfig, not both');
    }
    if (options.kubeconfigPath) kc.loadFromFile(options.kubeconfigPath);
    else if (options.kubeconfig) kc.loadFromString(options.kubeconfig);
    else kc.loadFromDefault();
    if (options.context) {
      if (!kc.getContextObject(options.context)) {
        const known = kc.getContexts().map((c) => c.name);
        throw new Error(
          `kubeconfig has no context "${options.context}" (known: ${known.join(', ') || 'none'})`,
        );
      }
      kc.setCurrentContext(options.context);
    }
    if (!kc.getCurrentCluster())
      throw new Error('kubeconfig names no cluster for its current context');
    return new KubeClient(kc, { requestTimeoutMs: options.requestTimeoutMs });
  }

  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? '';
  }

  /** Sends one request; 2xx bodies are parsed JSON, anything else becomes a KubeApiError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    // Rebuilt per request: exec/OIDC credentials refresh inside applySecurityAuthentication,
    // which also sets the TLS dispatcher (client certificate, CA, skip-TLS) of client-node 2.x.
    const context = new RequestContext(url.toString(), method as HttpMethod);
    await this.kubeConfig.applySecurityAuthentication(context);
    const headers: Record<string, string> = { ...context.getHeaders(), Accept: 'application/json' };
    if (options.body !== undefined)
      headers['Content-Type'] = options.contentType ?? 'application/json';
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.requestTimeoutMs);
    let status: number;
    let text: string;
    try {
      const response = await fetch(url.toString(), {
        headers,
        dispatcher: context.getDispatcher(),
        method,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: controller.signal as never,
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const reason = controller.signal.aborted
        ? `no answer within ${this.requestTimeoutMs} ms`
        : // undici's fetch says "fetch failed"; the cause says why (ECONNREFUSED, a TLS error).
          ((error as Error & { cause?: Error }).cause?.message ?? (error as Error).message);
      throw new KubeUnreachableError(
        `${method} ${path}: cannot reach the API server ${url.origin}: ${reason}`,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
    }
    if (status < 200 || status >= 300) throw KubeApiError.fromResponse(method, path, status, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`${method} ${path}: the API server answered ${status} with a non-JSON body`);
    }
  }

  /** GET with a few retries on transport errors and 429/5xx (reads are safe to repeat). */
  async get<T = KubeObject>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request<T>('GET', path, { query });
      } catch (error) {
        const retriable =
          !(error instanceof KubeApiError) || error.code === 429 || error.code >= 500;
        if (!retriable || attempt >= 3) throw error;
        await sleep(250 * 2 ** attempt);
      }
    }
  }

  /** GET that answers undefined for 404. */
  async getOrNull<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return undefined;
      throw error;
    }
  }

  /** POST (create) with strict field validation: an unknown field is an error, not a warning. */
  create<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body, query: { fieldValidation: 'Strict' } });
  }

  /** PUT (replace) with strict field validation; a stale resourceVersion gives 409 Conflict. */
  replace<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body, query: { fieldValidation: 'Strict' } });
  }

  /** PATCH with the Content-Type of the patch flavour (never the client's json-patch default). */
  patch<T = KubeObject>(path: string, body: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      contentType: PATCH_CONTENT_TYPES[type],
      query: { fieldValidation: 'Strict' },
    });
  }

  /** DELETE; answers false when the object was already gone. */
  async delete(
    path: string,
    options: {
      propagationPolicy?: PropagationPolicy;
      preconditions?: { uid?: string; resourceVersion?: string };
    } = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (options.propagationPolicy) body.propagationPolicy = options.propagationPolicy;
    if (options.preconditions) body.preconditions = options.preconditions;
    try {
      await this.request('DELETE', path, { body });
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return false;
      throw error;
    }
  }

  async list<T = KubeObject>(
    kind: KindName,
    namespace: string,
    query: { labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<T[]> {
    const items: T[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.get<ObjectList<T>>(objectPath(kind, namespace), {
        ...query,
        limit: '500',
        continue: continueToken,
      });
      // List items come without apiVersion/kind; put them back so each item stands alone.
      for (const item of page.items ?? []) {
        items.push({ apiVersion: KINDS[kind].apiVersion, kind, ...(item as object) } as T);
      }
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return items;
  }

  /**
   * Read-modify-write with optimistic concurrency: GET, `mutate` a copy, PUT it with the
   * resourceVersion that was read; on 409 Conflict start over (bounded). `mutate` returns
   * undefined when nothing needs to change (no PUT then).
   */
  async updateWithRetry<T extends KubeObject>(
    path: string,
    mutate: (current: T) => T | undefined | Promise<T | undefined>,
    options: { attempts?: number } = {},
  ): Promise<{ object: T; changed: boolean }> {
    const attempts = options.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const current = await this.get<T>(path);
      const next = await mutate(structuredClone(current));
      if (next === undefined) return { object: current, changed: false };
      next.metadata = { ...next.metadata, resourceVersion: current.metadata?.resourceVersion };
      try {
        return { object: await this.replace<T>(path, next), changed: true };
      } catch (error) {
        if (!isConflict(error) || attempt >= attempts) throw error;
        await sleep(Math.min(100 * 2 ** attempt, 2000));
      }
    }
  }
}
