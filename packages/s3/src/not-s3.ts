import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';

type Headers = Record<string, string | string[] | undefined>;
/** A deserialize-step handler, as @smithy/types declares it (a package this one does not list). */
type Handler = (args: unknown) => Promise<{ response: unknown; output: unknown }>;
type Middleware = Parameters<S3Client['middlewareStack']['addRelativeTo']>[0];

/**
 * Every S3 server (AWS, MinIO, Ceph RGW) answers an error with an XML <Error> document holding a
 * <Code>, or at least with an x-amz-request-id header; an answer with neither came from something
 * else (a web app such as Dify's own port, a proxy's page). Says what it was, for the message.
 */
export function notS3Answer(status: number, headers: Headers, text: string): string | undefined {
  if (/<Code>[^<]*<\/Code>/.test(text) || headers['x-amz-request-id'] !== undefined) {
    return undefined;
  }
  const server = headers.server ? `server "${String(headers.server)}"` : 'no Server header';
  const type = headers['content-type'] ? String(headers['content-type']) : 'no content type';
  const start = text.replace(/\s+/g, ' ').trim().slice(0, 80);
  return `HTTP ${status}, ${server}, ${type}${start ? `, body "${start}"` : ''}`;
}

/** The one wording of "this endpoint is not S3", for the sync engine and the SDK client alike. */
export function notS3EndpointMessage(origin: string, answer: string): string {
  return `${origin} is not an S3 endpoint: it answered ${answer}. Check 'endpoint'.`;
}

/** The endpoint answered, but not as S3 does: a wrong input, not a verdict on the bucket. */
export class NotS3EndpointError extends Error {
  override readonly name = 'NotS3EndpointError';
  /** Its class in the exit-code table (action-kit's classifyError): a usage error. */
  readonly outcome = 'usage';
  constructor(origin: string, answer: string) {
    super(notS3EndpointMessage(origin, answer));
  }
}

/** Error pages are small; a larger answer is cut here (its start is all the message shows). */
const MAX_ERROR_BODY = 64 * 1024;

async function readSome(body: unknown): Promise<Buffer> {
  if (!(body instanceof Readable)) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(Buffer.from(chunk as Uint8Array));
    size += (chunk as Uint8Array).length;
    if (size >= MAX_ERROR_BODY) break;
  }
  return Buffer.concat(chunks);
}

/**
 * Adds to the SDK client, between the HTTP handler and the deserializer, the check that an error
 * answer came from S3: one with no S3 error document and no x-amz-request-id becomes a
 * NotS3EndpointError, where the SDK would say "XML parse error" or a bare "NotFound" (which
 * callers read as "bucket does not exist").
 */
export function rejectNotS3(client: S3Client, endpoint: string): void {
  const origin = new URL(endpoint).origin;
  const check: (next: Handler) => Handler = (next) => async (args) => {
    const result = await next(args);
    const response = result.response as { statusCode?: number; headers?: Headers; body?: unknown };
    const status = response.statusCode ?? 0;
    if (status < 300 || status === 304 || response.headers?.['x-amz-request-id'] !== undefined) {
      return result;
    }
    const text = await readSome(response.body);
    const answer = notS3Answer(status, response.headers ?? {}, text.toString('utf8'));
    if (answer) throw new NotS3EndpointError(origin, answer);
    response.body = Readable.from([text]);
    return result;
  };
  // The stack's type is a union of every step's middleware; this one is of the deserialize step.
  client.middlewareStack.addRelativeTo(check as unknown as Middleware, {
    relation: 'after',
    toMiddleware: 'deserializerMiddleware',
    name: 'rejectNotS3',
  });
}
