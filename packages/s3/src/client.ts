import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { CredentialSource } from './credentials.js';
import { rejectNotS3 } from './not-s3.js';
import { DEFAULT_RETRY, SdkRetryStrategy } from './retry.js';
import type { S3Target } from './target.js';

/** What the SDK client needs: a target without its bucket, plus tuning. */
export interface S3Settings extends Omit<S3Target, 'bucket' | 'credentials'> {
  /** Static keys or a provider; when absent the SDK resolves the same AWS chain itself. */
  credentials?: CredentialSource;
  /** Upper bound of concurrent connections; set it to at least the copy concurrency. */
  maxSockets?: number;
  /** Per-request socket timeout. */
  requestTimeoutMs?: number;
  /** Attempts per request (default: the one retry policy's, DEFAULT_RETRY). */
  maxAttempts?: number;
}

/**
 * Creates an S3 client that works against every S3-compatible server, not only AWS:
 * - checksums only WHEN_REQUIRED: since SDK 3.729 the default streams aws-chunked bodies with
 *   CRC32 trailers, which Ceph RGW answers with 411 and older MinIO stores as data;
 *   integrity comes from Content-MD5 instead, which every server enforces;
 * - keep-alive agents on both schemes with raised maxSockets (the default of 50 queues
 *   requests of a wide copy);
 * - the suite's one retry policy (retry.ts), as the sync engine's transport uses it;
 * - path-style when asked (there is no DNS for bucket.127.0.0.1);
 * - an endpoint that answers but is not S3 is named so (rejectNotS3), not taken for a missing bucket.
 */
export function createS3Client(settings: S3Settings): S3Client {
  const maxSockets = settings.maxSockets ?? 64;
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? true,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: settings.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
    retryStrategy: new SdkRetryStrategy({
      ...DEFAULT_RETRY,
      maxAttempts: settings.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
    }),
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
      httpsAgent: new https.Agent({
        keepAlive: true,
        maxSockets,
        ...(settings.caBundle ? { ca: settings.caBundle } : {}),
      }),
      connectionTimeout: 10_000,
      requestTimeout: settings.requestTimeoutMs ?? 120_000,
    }),
  });
  if (settings.endpoint) rejectNotS3(client, settings.endpoint);
  return client;
}
