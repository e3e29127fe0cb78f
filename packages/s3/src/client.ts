import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { rejectNotS3 } from './not-s3.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3Settings {
  /** Endpoint URL of an S3-compatible server (MinIO, Ceph RGW); empty for AWS itself. */
  endpoint?: string;
  region: string;
  /** Path-style addressing (`http://host/bucket/key`): what MinIO and RGW need. */
  forcePathStyle: boolean;
  /** Static credentials; when absent the SDK's default chain is used (env, profile, IAM role). */
  credentials?: S3Credentials;
  /** Upper bound of concurrent connections; set it to at least the copy concurrency. */
  maxSockets?: number;
  /** Per-request socket timeout. */
  requestTimeoutMs?: number;
  /** SDK-level attempts per request (throttling, 5xx, resets). */
  maxAttempts?: number;
  /**
   * PEM of the CA(s) that signed an https endpoint's certificate (a private CA). It replaces the
   * public roots, as boto3's AWS_CA_BUNDLE does, so what this client trusts Dify trusts too.
   * Verification is never turned off.
   */
  caBundle?: string;
}

/**
 * Creates an S3 client that works against every S3-compatible server, not only AWS:
 * - checksums only WHEN_REQUIRED: since SDK 3.729 the default streams aws-chunked bodies with
 *   CRC32 trailers, which Ceph RGW answers with 411 and older MinIO stores as data;
 *   integrity comes from Content-MD5 instead, which every server enforces;
 * - keep-alive agents on both schemes with raised maxSockets (the default of 50 queues
 *   requests of a wide copy);
 * - path-style when asked (there is no DNS for bucket.127.0.0.1);
 * - an endpoint that answers but is not S3 is named so (rejectNotS3), not taken for a missing bucket.
 */
export function createS3Client(settings: S3Settings): S3Client {
  const maxSockets = settings.maxSockets ?? 64;
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: settings.maxAttempts ?? 5,
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

/**
 * Reads S3 settings from the environment variables the suite documents
 * (`S3_ENDPOINT`, `S3_REGION`, `S3_FORCE_PATH_STYLE`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
 */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? env.S3_ACCESS_KEY;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? env.S3_SECRET_KEY;
  return {
    ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
    region: env.S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: (env.S3_FORCE_PATH_STYLE ?? 'true') !== 'false',
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  };
}
