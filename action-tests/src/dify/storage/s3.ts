import { createWriteStream, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Config } from '../config.js';
import { ClientError, FileNotFoundError, PythonError, log } from '../log.js';
import type { BaseStorage } from './base.js';

/** OpenSSL verification failures as Node reports them: urllib3 raises SSLError for these. */
const SSL_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The https agent options of botocore's `verify` (see S3Config.verify): a bundle path (read in
 * the simulated container's root when absolute), the default roots (certifi), or none at all.
 * A path that cannot be read fails each request with an SSLError, as in urllib3.
 */
function tlsOptions(verify: string | true, rootfs: string | undefined): https.AgentOptions {
  if (verify === true) return {};
  if (verify === '') return { rejectUnauthorized: false };
  const file = path.isAbsolute(verify) && rootfs ? path.join(rootfs, verify) : verify;
  try {
    return { ca: readFileSync(file, 'utf8') };
  } catch {
    // urllib3 raises SSLError from load_verify_locations; an empty trust store fails likewise.
    return { ca: [] };
  }
}

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Translates an SDK v3 error into the botocore exception Dify would see, so log lines and
 * crash messages read like Dify's. HEAD answers carry no body: botocore then uses the status
 * code as the error code and the reason phrase as the message.
 */
export function toBotocoreError(err: unknown, operation: string, url: string): PythonError {
  if (err instanceof PythonError) return err;
  const e = (err ?? {}) as SdkError;
  if (e.name === 'CredentialsProviderError') {
    return new PythonError(
      'botocore.exceptions.NoCredentialsError',
      'Unable to locate credentials',
    );
  }
  const status = e.$metadata?.httpStatusCode;
  // urllib3's SSLError becomes botocore's SSLError (httpsession.py:490-491, exceptions.py:129-130).
  // Under jest's VM the SDK cannot tell a socket error is an Error and keeps only its text
  // ("AWS SDK error wrapper for Error: unable to verify the first certificate").
  const code = (err as { code?: string } | undefined)?.code;
  const tlsFailure = code ? SSL_VERIFY_CODES.has(code) : /certificate/i.test(e.message ?? '');
  if (status === undefined && tlsFailure) {
    return new PythonError(
      'botocore.exceptions.SSLError',
      `SSL validation failed for ${url} [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ${(e.message ?? '').replace(/^.*Error: /, '')} (_ssl.c:1006)`,
    );
  }
  // No HTTP answer at all (refused, DNS, reset, timeout): botocore's EndpointConnectionError.
  if (status === undefined) {
    return new PythonError(
      'botocore.exceptions.EndpointConnectionError',
      `Could not connect to the endpoint URL: "${url}"`,
    );
  }
  const reason = http.STATUS_CODES[status] ?? 'Unknown';
  if (operation.startsWith('Head')) return new ClientError(String(status), operation, reason);
  const errorCode =
    e.name && e.name !== 'Unknown' && e.name !== 'UnknownError' ? e.name : String(status);
  return new ClientError(errorCode, operation, e.message || reason);
}

/** api/extensions/storage/aws_s3_storage.py (boto3 1.35.99: no default checksums). */
export class AwsS3Storage implements BaseStorage {
  private constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    private readonly baseUrl: string,
  ) {}

  /**
   * Builds the client as Dify does and makes sure the bucket exists: HeadBucket; 404 →
   * CreateBucket; 403 → ignored (a bucket we may not HEAD); anything else → thrown, which
   * crashes the process at start.
   */
  static async create(cfg: S3Config, rootfs?: string): Promise<AwsS3Storage> {
    const region = cfg.region ?? 'us-east-1';
    let client: S3Client;
    let baseUrl: string;
    const common = {
      region,
      requestChecksumCalculation: 'WHEN_REQUIRED' as const,
      responseChecksumValidation: 'WHEN_REQUIRED' as const,
      maxAttempts: 5,
      requestHandler: new NodeHttpHandler({
        httpAgent: new http.Agent({ keepAlive: true, maxSockets: 32 }),
        httpsAgent: new https.Agent({
          keepAlive: true,
          maxSockets: 32,
          ...tlsOptions(cfg.verify, rootfs),
        }),
        connectionTimeout: 10_000,
        requestTimeout: 60_000,
      }),
    };
    if (cfg.useAwsManagedIam) {
      log('INFO', 'aws_s3_storage.py:24', 'Using AWS managed IAM role for S3');
      // Like boto3.Session().client("s3", region_name=...): endpoint and style are ignored.
      client = new S3Client(common);
      baseUrl = `https://s3.${region}.amazonaws.com`;
    } else {
      log('INFO', 'aws_s3_storage.py:30', 'Using ak and sk for S3');
      if (cfg.endpoint !== undefined && !/^https?:\/\/[^/]/i.test(cfg.endpoint)) {
        throw new PythonError('ValueError', `Invalid endpoint: ${cfg.endpoint}`);
      }
      // botocore: with an endpoint_url, ForcePathStyle = addressing_style != 'virtual'.
      const forcePathStyle = cfg.endpoint
        ? cfg.addressStyle !== 'virtual'
        : cfg.addressStyle === 'path';
      client = new S3Client({
        ...common,
        ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
        forcePathStyle,
        ...(cfg.accessKey && cfg.secretKey
          ? { credentials: { accessKeyId: cfg.accessKey, secretAccessKey: cfg.secretKey } }
          : {}),
      });
      baseUrl = (cfg.endpoint ?? `https://s3.${region}.amazonaws.com`).replace(/\/+$/, '');
    }
    if (!cfg.bucketName) {
      client.destroy();
      throw new PythonError(
        'botocore.exceptions.ParamValidationError',
        "Parameter validation failed:\nInvalid type for parameter Bucket, value: None, type: <class 'NoneType'>, valid types: <class 'str'>",
      );
    }
    const storage = new AwsS3Storage(client, cfg.bucketName, baseUrl);
    try {
      await storage.ensureBucket();
    } catch (err) {
      client.destroy();
      throw err;
    }
    return storage;
  }

  private url(key?: string): string {
    return `${this.baseUrl}/${this.bucket}${key === undefined ? '' : `/${key}`}`;
  }

  private async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const e = toBotocoreError(err, 'HeadBucket', this.url());
      if (e instanceof ClientError && e.code === '404') {
        try {
          await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
        } catch (createErr) {
          throw toBotocoreError(createErr, 'CreateBucket', this.url());
        }
        return;
      }
      if (e instanceof ClientError && e.code === '403') return;
      throw e;
    }
  }

  async save(key: string, data: Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data }));
    } catch (err) {
      throw toBotocoreError(err, 'PutObject', this.url(key));
    }
  }

  async loadOnce(key: string): Promise<Buffer> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      const e = toBotocoreError(err, 'GetObject', this.url(key));
      if (e instanceof ClientError && e.code === 'NoSuchKey')
        throw new FileNotFoundError('File not found');
      throw e;
    }
  }

  async *loadStream(key: string): AsyncGenerator<Buffer, void, undefined> {
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      body = out.Body as Readable;
    } catch (err) {
      const e = toBotocoreError(err, 'GetObject', this.url(key));
      if (e instanceof ClientError && e.code === 'NoSuchKey')
        throw new FileNotFoundError('file not found');
      throw e;
    }
    for await (const chunk of body) yield chunk as Buffer;
  }

  /** s3transfer's download_file: HeadObject first (a missing key is a 404 ClientError). */
  async download(key: string, targetPath: string): Promise<void> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw toBotocoreError(err, 'HeadObject', this.url(key));
    }
    const temp = `${targetPath}.${Math.random().toString(16).slice(2, 10)}`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      await pipeline(out.Body as Readable, createWriteStream(temp));
      await rename(temp, targetPath);
    } catch (err) {
      await rm(temp, { force: true });
      throw toBotocoreError(err, 'GetObject', this.url(key));
    }
  }

  /** A bare `except: return False` in Dify: auth and network errors look like "missing". */
  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw toBotocoreError(err, 'DeleteObject', this.url(key));
    }
  }

  close(): void {
    this.client.destroy();
  }
}
