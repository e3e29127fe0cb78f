import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { sleep } from '@dify-storage/common';
import {
  backoffMs,
  clockOffsetMs,
  CredentialsCache,
  DEFAULT_RETRY,
  isRetryable,
  NoCredentialsError,
  notS3Answer,
  unquoteEtag as unquote,
  type RetryPolicy,
  type S3Target,
} from '@dify-storage/s3';
import { Http1Pool } from './http1.js';
import { createHash } from 'node:crypto';
import { S3RequestError, SyncConfigError } from './errors.js';
import { EMPTY_SHA256, SigV4Signer, UNSIGNED_PAYLOAD, canonicalQuery, uriEncode } from './sigv4.js';
import { certificateProblem, isCertificateError } from './tls.js';
import { decodeXml, escapeXml, xmlBlocks, xmlText } from './xml.js';

export interface TransportOptions {
  /** Keep-alive sockets; at least the copy concurrency. */
  maxSockets?: number;
  /** Attempts per request for throttling, 5xx and connection resets (default 10, ≈ 30 s of backoff). */
  maxAttempts?: number;
  /** Idle socket timeout per request (default 120 s). */
  requestTimeoutMs?: number;
  /** Base and cap of the full-jitter backoff (default 100 ms / 10 s). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Use node:http(s) even where the lean HTTP/1.1 client is the default (buffered bodies). */
  useNodeHttp?: boolean;
}

export type S3Op =
  | 'PutObject'
  | 'HeadObject'
  | 'GetObject'
  | 'ListObjectsV2'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'ListParts'
  | 'AbortMultipartUpload'
  | 'DeleteObject'
  | 'HeadBucket'
  | 'CreateBucket'
  | 'GetBucketAcl'
  | 'GetBucketPolicy'
  | 'GetBucketLocation';

interface RequestSpec {
  op: S3Op;
  method: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer;
  /** A streamed body (re-opened on every attempt) of `contentLength` bytes; sent over node:http. */
  bodyStream?: () => NodeJS.ReadableStream;
  contentLength?: number;
  /** A payload hash to sign (the server then verifies the body against it). */
  payloadHash?: string;
  /** Sign the payload hash (small XML bodies) instead of UNSIGNED-PAYLOAD. */
  signBody?: boolean;
  maxAttempts?: number;
  /** Statuses returned to the caller instead of thrown (e.g. 404 for HEAD). */
  okStatuses?: readonly number[];
}

export interface S3Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Without quotes. */
  etag: string;
  lastModified: string;
}

export interface ListPage {
  objects: ObjectInfo[];
  prefixes: string[];
  nextToken: string | undefined;
}

export interface HeadInfo {
  size: number;
  etag: string;
  lastModified: string;
  metadata: Record<string, string>;
}

export interface PartInfo {
  partNumber: number;
  etag: string;
  size: number;
}

/** What S3 answers to a token past its expiry or keys no longer valid (botocore's refresh set). */
const REFUSED_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'TokenRefreshRequired',
  'InvalidToken',
  'InvalidAccessKeyId',
]);

/**
 * A keep-alive HTTP client for the S3 calls on the hot path (PUT, multipart, HEAD, GET, LIST),
 * signed with the lean signer. Counts every attempt per operation so tests and the report can
 * show what a run cost.
 */
export class S3Transport {
  readonly counts: Partial<Record<S3Op, number>> = {};
  readonly bucket: string;
  readonly endpointUrl: URL;
  private readonly pathStyle: boolean;
  private readonly signer: SigV4Signer;
  private readonly credentials: CredentialsCache;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  private readonly host: string;
  private readonly port: number | undefined;
  private readonly retry: RetryPolicy;
  /** Added to the local clock when signing, after the server said it is skewed. */
  private clockOffset = 0;
  private readonly timeoutMs: number;
  retries = 0;
  private readonly fast: Http1Pool | undefined;

  constructor(target: S3Target, options: TransportOptions = {}) {
    const endpoint = target.endpoint || `https://s3.${target.region}.amazonaws.com`;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new SyncConfigError(
        `endpoint "${endpoint}" is not a URL (expected http(s)://host[:port])`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SyncConfigError(`endpoint "${endpoint}" must start with http:// or https://`);
    }
    this.endpointUrl = url;
    this.bucket = target.bucket;
    this.pathStyle = target.forcePathStyle ?? true;
    this.signer = new SigV4Signer(target.region, 's3', () => Date.now() + this.clockOffset);
    this.credentials = new CredentialsCache(target.credentials);
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 64,
      keepAliveMsecs: 10_000,
    };
    this.mod = url.protocol === 'https:' ? https : http;
    const ca = target.caBundle ? { ca: target.caBundle } : {};
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({ ...agentOptions, ...ca })
        : new http.Agent(agentOptions);
    this.host = this.pathStyle ? url.host : `${target.bucket}.${url.host}`;
    this.port = url.port ? Number(url.port) : undefined;
    this.retry = {
      maxAttempts: options.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
      baseMs: options.backoffBaseMs ?? DEFAULT_RETRY.baseMs,
      capMs: options.backoffCapMs ?? DEFAULT_RETRY.capMs,
    };
    this.timeoutMs = options.requestTimeoutMs ?? 120_000;
    const tlsEndpoint = url.protocol === 'https:';
    this.fast = options.useNodeHttp
      ? undefined
      : new Http1Pool(
          url.hostname.replace(/^\[|\]$/g, ''),
          this.port ?? (tlsEndpoint ? 443 : 80),
          agentOptions.maxSockets,
          this.timeoutMs,
          // The certificate names the Host the requests carry (bucket.host when virtual-hosted).
          tlsEndpoint ? { ...ca, servername: this.host.replace(/:\d+$/, '') } : undefined,
        );
  }

  /** Frees the keep-alive sockets. */
  close(): void {
    this.fast?.destroy();
    this.agent.destroy();
  }

  /** Connections the lean client opened, and TLS sessions it resumed (undefined on node:http). */
  get connectionStats(): { connects: number; resumed: number } | undefined {
    return this.fast?.stats;
  }

  /** Closes idle keep-alive connections. */
  closeIdle(): void {
    this.fast?.closeIdle();
  }

  totalRequests(): number {
    return Object.values(this.counts).reduce((a, b) => a + (b ?? 0), 0);
  }

  private path(key: string | undefined): string {
    const base = this.endpointUrl.pathname.replace(/\/+$/, '');
    const bucketPart = this.pathStyle ? `/${uriEncode(this.bucket, false)}` : '';
    if (key === undefined) return `${base}${bucketPart}${this.pathStyle ? '' : '/'}` || '/';
    return `${base}${bucketPart}/${uriEncode(key, true)}`;
  }

  /** Signs a request: its path (with query) and headers, with the credentials current now. */
  private async prepare(
    spec: RequestSpec,
  ): Promise<{ path: string; headers: Record<string, string> }> {
    const credentials = await this.credentials.get();
    const encodedPath = this.path(spec.key);
    const query = canonicalQuery(spec.query);
    const headers: Record<string, string> = { host: this.host };
    if (spec.headers) Object.assign(headers, spec.headers);
    if (spec.body) headers['content-length'] = String(spec.body.length);
    else if (spec.bodyStream) headers['content-length'] = String(spec.contentLength ?? 0);
    else if (spec.method === 'PUT' || spec.method === 'POST') headers['content-length'] = '0';
    const payloadHash =
      spec.payloadHash ??
      (spec.bodyStream
        ? UNSIGNED_PAYLOAD
        : !spec.body
          ? EMPTY_SHA256
          : spec.signBody
            ? createHash('sha256').update(spec.body).digest('hex')
            : UNSIGNED_PAYLOAD);
    this.signer.sign(credentials, spec.method, encodedPath, query, headers, payloadHash);
    this.counts[spec.op] = (this.counts[spec.op] ?? 0) + 1;
    return { path: query ? `${encodedPath}?${query}` : encodedPath, headers };
  }

  /** One attempt over node:http; resolves with the response (body unread). */
  private async attempt(spec: RequestSpec): Promise<IncomingMessage> {
    const { path, headers } = await this.prepare(spec);
    return new Promise((resolve, reject) => {
      const req = this.mod.request(
        {
          protocol: this.endpointUrl.protocol,
          hostname: this.endpointUrl.hostname,
          port: this.port,
          method: spec.method,
          path,
          headers,
          agent: this.agent,
        },
        resolve,
      );
      req.setTimeout(this.timeoutMs, () => {
        const e = new Error(`no response within ${this.timeoutMs} ms`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        req.destroy(e);
      });
      req.on('error', reject);
      if (spec.bodyStream) {
        const body = spec.bodyStream();
        body.on('error', (e: Error) => req.destroy(e));
        body.pipe(req);
      } else req.end(spec.body);
    });
  }

  /** One attempt with the whole response read. */
  private async attemptBuffered(spec: RequestSpec): Promise<S3Response> {
    if (this.fast && !spec.bodyStream) {
      const { path, headers } = await this.prepare(spec);
      return this.fast.request(spec.method, path, headers, spec.body);
    }
    const res = await this.attempt(spec);
    const body = await readAll(res);
    return { status: res.statusCode ?? 0, headers: res.headers, body };
  }

  private backoff(attempt: number): Promise<void> {
    return sleep(backoffMs(attempt, this.retry));
  }

  private describe(spec: RequestSpec): string {
    return spec.key === undefined ? `${spec.op} s3://${this.bucket}` : `${spec.op} ${spec.key}`;
  }

  /** The error of a request that got no answer (after `attempt + 1` attempts). */
  private unreachable(
    spec: RequestSpec,
    error: Error,
    attempt: number,
    retryable: boolean,
  ): S3RequestError {
    const after = attempt > 0 ? ` (after ${attempt + 1} attempts)` : '';
    return new S3RequestError(
      `${this.describe(spec)}: cannot reach ${this.endpointUrl.origin}: ${error.message}${after}`,
      spec.op,
      undefined,
      (error as NodeJS.ErrnoException).code ?? 'NetworkError',
      retryable,
    );
  }

  /**
   * Sends a request with retries (full-jitter backoff) and returns the response with the body
   * read (or, with `stream`, unread for a 2xx answer).
   */
  async send(spec: RequestSpec): Promise<S3Response>;
  async send(spec: RequestSpec, stream: true): Promise<IncomingMessage>;
  async send(spec: RequestSpec, stream = false): Promise<S3Response | IncomingMessage> {
    const maxAttempts = spec.maxAttempts ?? this.retry.maxAttempts;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let status: number;
      let headers: S3Response['headers'];
      let body: Buffer;
      try {
        if (stream) {
          const res = await this.attempt(spec);
          status = res.statusCode ?? 0;
          if ((status >= 200 && status < 300) || spec.okStatuses?.includes(status)) return res;
          headers = res.headers;
          body = await readAll(res);
        } else {
          ({ status, headers, body } = await this.attemptBuffered(spec));
        }
      } catch (error) {
        if (error instanceof NoCredentialsError) throw error;
        const code = (error as NodeJS.ErrnoException).code;
        if (isCertificateError(code)) {
          const problem = certificateProblem(this.endpointUrl.origin, error as Error);
          throw new S3RequestError(
            `${this.describe(spec)}: ${problem}`,
            spec.op,
            undefined,
            code!,
            false,
          );
        }
        const retryable =
          isRetryable({ code }) || /socket hang up|aborted/.test((error as Error).message);
        if (retryable && attempt + 1 < maxAttempts) {
          this.retries++;
          // A reused keep-alive socket the server had closed: retry at once the first time.
          if (attempt > 0 || code !== 'ECONNRESET') await this.backoff(attempt);
          continue;
        }
        throw this.unreachable(spec, error as Error, attempt, retryable);
      }
      const ok = (status >= 200 && status < 300) || spec.okStatuses?.includes(status);
      if (ok) return { status, headers, body };
      const text = body.toString('utf8');
      const code = xmlText(text, 'Code') ?? statusCode(status);
      // Credentials from a provider revoked or expired before their time: ask it again, once.
      if (!refreshed && this.credentials.refreshable && REFUSED_CREDENTIALS.has(code)) {
        refreshed = true;
        this.credentials.invalidate();
        attempt--;
        continue;
      }
      if (code === 'RequestTimeTooSkewed') {
        this.clockOffset = clockOffsetMs(headers.date as string | undefined) ?? this.clockOffset;
      }
      const retryable = isRetryable({ status, code });
      if (retryable && attempt + 1 < maxAttempts) {
        this.retries++;
        await this.backoff(attempt);
        continue;
      }
      const message = xmlText(text, 'Message');
      throw new S3RequestError(
        `${this.describe(spec)}: HTTP ${status} ${code}${message ? `: ${message}` : ''}${
          attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''
        }`,
        spec.op,
        status,
        code,
        retryable,
        notS3Answer(status, headers, text),
      );
    }
  }

  /**
   * PUT of an in-memory body, its integrity proved to the server by Content-MD5 (`md5`) or by
   * its sha256 signed as the payload hash (for a server that checks it, see
   * verifiesPayloadSha256). Returns the ETag.
   */
  async putObject(
    key: string,
    body: Buffer,
    integrity: Buffer | { sha256: string },
    metadata: Record<string, string>,
  ): Promise<string> {
    const headers: Record<string, string> = {};
    if (Buffer.isBuffer(integrity)) headers['content-md5'] = integrity.toString('base64');
    for (const [k, v] of Object.entries(metadata)) headers[`x-amz-meta-${k}`] = v;
    const res = await this.send({
      op: 'PutObject',
      method: 'PUT',
      key,
      body,
      headers,
      ...(Buffer.isBuffer(integrity) ? {} : { payloadHash: integrity.sha256 }),
    });
    return unquote(res.headers.etag as string | undefined);
  }

  /** PUT of a file streamed from disk (its md5 known beforehand): no buffer of its size. */
  async putObjectStream(
    key: string,
    size: number,
    open: () => NodeJS.ReadableStream,
    integrity: { md5: Buffer } | { sha256: string },
    metadata: Record<string, string>,
  ): Promise<string> {
    const headers: Record<string, string> = {};
    if ('md5' in integrity) headers['content-md5'] = integrity.md5.toString('base64');
    for (const [k, v] of Object.entries(metadata)) headers[`x-amz-meta-${k}`] = v;
    const res = await this.send({
      op: 'PutObject',
      method: 'PUT',
      key,
      bodyStream: open,
      contentLength: size,
      headers,
      ...('sha256' in integrity ? { payloadHash: integrity.sha256 } : {}),
    });
    return unquote(res.headers.etag as string | undefined);
  }

  /**
   * Whether the server checks a signed payload hash: a PUT signed with the hash of other bytes
   * must be refused. (RGW 16, MinIO and AWS do; a server that doesn't gets Content-MD5 instead.)
   */
  async verifiesPayloadSha256(probeKey: string): Promise<boolean> {
    const body = Buffer.from('dify-storage sync probe');
    try {
      await this.send({
        op: 'PutObject',
        method: 'PUT',
        key: probeKey,
        body,
        payloadHash: createHash('sha256').update('other bytes').digest('hex'),
        maxAttempts: 3,
      });
    } catch (error) {
      return (
        error instanceof S3RequestError &&
        (error.code === 'XAmzContentSHA256Mismatch' || error.code === 'BadDigest')
      );
    }
    await this.deleteObject(probeKey).catch(() => undefined);
    return false;
  }

  /** Metadata of one object; undefined when it does not exist. */
  async headObject(key: string): Promise<HeadInfo | undefined> {
    const res = await this.send({ op: 'HeadObject', method: 'HEAD', key, okStatuses: [404] });
    if (res.status === 404) return undefined;
    return headInfo(res.headers);
  }

  /** Streams an object; the caller must consume or destroy the stream. */
  async getObject(
    key: string,
    range?: string,
  ): Promise<{ info: HeadInfo; stream: IncomingMessage }> {
    const stream = await this.send(
      { op: 'GetObject', method: 'GET', key, ...(range ? { headers: { range } } : {}) },
      true,
    );
    return { info: headInfo(stream.headers), stream };
  }

  async listObjectsV2(params: {
    prefix?: string;
    delimiter?: string;
    startAfter?: string;
    continuationToken?: string;
    maxKeys?: number;
    maxAttempts?: number;
  }): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url' };
    if (params.prefix) query.prefix = params.prefix;
    if (params.delimiter) query.delimiter = params.delimiter;
    if (params.startAfter) query['start-after'] = params.startAfter;
    if (params.continuationToken) query['continuation-token'] = params.continuationToken;
    if (params.maxKeys) query['max-keys'] = String(params.maxKeys);
    const res = await this.send({
      op: 'ListObjectsV2',
      method: 'GET',
      query,
      ...(params.maxAttempts ? { maxAttempts: params.maxAttempts } : {}),
    });
    return parseListPage(res.body.toString('utf8'));
  }

  async createMultipartUpload(key: string, metadata: Record<string, string>): Promise<string> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) headers[`x-amz-meta-${k}`] = v;
    const res = await this.send({
      op: 'CreateMultipartUpload',
      method: 'POST',
      key,
      query: { uploads: '' },
      headers,
    });
    const id = xmlText(res.body.toString('utf8'), 'UploadId');
    if (!id)
      throw new S3RequestError(
        `CreateMultipartUpload ${key}: no UploadId in the answer`,
        'CreateMultipartUpload',
        res.status,
        'BadResponse',
        false,
      );
    return id;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer,
    md5: Buffer,
  ): Promise<string> {
    const res = await this.send({
      op: 'UploadPart',
      method: 'PUT',
      key,
      query: { partNumber: String(partNumber), uploadId },
      headers: { 'content-md5': md5.toString('base64') },
      body,
    });
    return unquote(res.headers.etag as string | undefined);
  }

  /** Completes an upload; returns the ETag from the answer (RGW 16 answers an empty one). */
  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly { partNumber: number; etag: string }[],
  ): Promise<string> {
    let xml = '<CompleteMultipartUpload>';
    for (const p of parts)
      xml += `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${escapeXml(p.etag)}"</ETag></Part>`;
    xml += '</CompleteMultipartUpload>';
    const res = await this.send({
      op: 'CompleteMultipartUpload',
      method: 'POST',
      key,
      query: { uploadId },
      headers: { 'content-type': 'application/xml' },
      body: Buffer.from(xml),
      signBody: true,
    });
    const text = res.body.toString('utf8');
    // Complete can answer 200 with an error document.
    if (text.includes('<Error>')) {
      const code = xmlText(text, 'Code') ?? 'InternalError';
      throw new S3RequestError(
        `CompleteMultipartUpload ${key}: ${code}: ${xmlText(text, 'Message') ?? ''}`,
        'CompleteMultipartUpload',
        res.status,
        code,
        isRetryable({ status: 500, code }),
      );
    }
    return unquote(xmlText(text, 'ETag'));
  }

  /** Parts already stored for an upload; undefined when the upload no longer exists. */
  async listParts(key: string, uploadId: string): Promise<PartInfo[] | undefined> {
    const parts: PartInfo[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 100; page++) {
      const query: Record<string, string> = { uploadId };
      if (marker) query['part-number-marker'] = marker;
      const res = await this.send({
        op: 'ListParts',
        method: 'GET',
        key,
        query,
        okStatuses: [404],
      });
      if (res.status === 404) return undefined;
      const xml = res.body.toString('utf8');
      for (const b of xmlBlocks(xml, 'Part')) {
        parts.push({
          partNumber: Number(xmlText(b, 'PartNumber')),
          etag: unquote(xmlText(b, 'ETag')),
          size: Number(xmlText(b, 'Size')),
        });
      }
      if (xmlText(xml, 'IsTruncated') !== 'true') break;
      marker = xmlText(xml, 'NextPartNumberMarker');
      if (!marker) break;
    }
    return parts;
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.send({
      op: 'AbortMultipartUpload',
      method: 'DELETE',
      key,
      query: { uploadId },
      okStatuses: [404],
    });
  }

  async deleteObject(key: string): Promise<void> {
    await this.send({ op: 'DeleteObject', method: 'DELETE', key, okStatuses: [404] });
  }

  async createBucket(): Promise<void> {
    await this.send({ op: 'CreateBucket', method: 'PUT', okStatuses: [409] });
  }

  /** The bucket ACL (XML); undefined when the server does not implement it. */
  async getBucketAcl(): Promise<string | undefined> {
    const r = await this.send({
      op: 'GetBucketAcl',
      method: 'GET',
      query: { acl: '' },
      okStatuses: [501],
    });
    return r.status === 200 ? r.body.toString('utf8') : undefined;
  }

  /** The bucket policy (JSON); undefined when there is none or the server has no policies. */
  async getBucketPolicy(): Promise<string | undefined> {
    const r = await this.send({
      op: 'GetBucketPolicy',
      method: 'GET',
      query: { policy: '' },
      okStatuses: [404, 501],
    });
    return r.status === 200 ? r.body.toString('utf8') : undefined;
  }
}

function statusCode(status: number): string {
  switch (status) {
    case 301:
      return 'PermanentRedirect';
    case 400:
      return 'BadRequest';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 411:
      return 'MissingContentLength';
    case 429:
      return 'SlowDown';
    case 503:
      return 'ServiceUnavailable';
    default:
      return `HTTP${status}`;
  }
}

/** `encoding-type=url` keys: percent-encoded, and some servers encode a space as `+`. */
function decodeUrlKey(s: string): string {
  return decodeURIComponent(decodeXml(s).replace(/\+/g, '%20'));
}

function headInfo(h: S3Response['headers']): HeadInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice(11)] = v;
  }
  return {
    size: Number(h['content-length'] ?? '0'),
    etag: unquote(h.etag as string | undefined),
    lastModified: (h['last-modified'] as string | undefined) ?? '',
    metadata,
  };
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}

/** A ListObjectsV2 answer (with `encoding-type=url` honoured) as objects, prefixes and token. */
export function parseListPage(xml: string): ListPage {
  const urlEncoded = xmlText(xml, 'EncodingType') === 'url';
  const dec = (s: string): string => (urlEncoded ? decodeUrlKey(s) : s);
  const objects: ObjectInfo[] = [];
  for (const block of xmlBlocks(xml, 'Contents')) {
    objects.push({
      key: dec(xmlText(block, 'Key') ?? ''),
      size: Number(xmlText(block, 'Size') ?? '0'),
      etag: unquote(xmlText(block, 'ETag')),
      lastModified: xmlText(block, 'LastModified') ?? '',
    });
  }
  const prefixes = xmlBlocks(xml, 'CommonPrefixes').map((b) => dec(xmlText(b, 'Prefix') ?? ''));
  const truncated = xmlText(xml, 'IsTruncated') === 'true';
  const nextToken = truncated ? xmlText(xml, 'NextContinuationToken') : undefined;
  if (truncated && !nextToken) {
    throw new S3RequestError(
      'ListObjectsV2: truncated listing without a continuation token',
      'ListObjectsV2',
      200,
      'BadListing',
      false,
    );
  }
  return { objects, prefixes, nextToken };
}
