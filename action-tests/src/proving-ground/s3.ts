import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  createS3Client,
  type S3Credentials,
  type S3Settings,
  type S3Target,
} from '@dify-storage/s3';
import { testEnv } from './index.js';

/** S3 settings for the proving ground's RGW. */
export function testS3Settings(): S3Settings & { credentials: S3Credentials } {
  const env = testEnv();
  return {
    endpoint: env.DSM_S3_ENDPOINT,
    region: env.DSM_S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.DSM_S3_ACCESS_KEY, secretAccessKey: env.DSM_S3_SECRET_KEY },
  };
}

/** The same gateway over its TLS endpoint, trusted through the proving ground's private CA. */
export function testTlsS3Settings(): ReturnType<typeof testS3Settings> & { caFile: string } {
  const env = testEnv();
  return {
    ...testS3Settings(),
    endpoint: env.DSM_S3_TLS_ENDPOINT,
    caBundle: readFileSync(env.DSM_S3_CA_FILE, 'utf8'),
    caFile: env.DSM_S3_CA_FILE,
  };
}

export function testS3Client(): S3Client {
  return createS3Client(testS3Settings());
}

/** A bucket name no other suite uses (S3 names: 3-63 chars, lowercase, digits, hyphens). */
export function uniqueBucketName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`.toLowerCase().slice(0, 63);
}

export async function createTestBucket(client: S3Client, prefix: string): Promise<string> {
  const bucket = uniqueBucketName(prefix);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Empties and deletes a bucket (bounded: stops after 1000 pages). */
export async function deleteTestBucket(client: S3Client, bucket: string): Promise<void> {
  for (let page = 0; page < 1000; page++) {
    const list = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (list.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * Environment for Debian's rclone with an env-only remote named `ceph:` (no config file, no
 * secrets in argv). No AWS_CA_BUNDLE: rclone 1.60 fails with it (s3-test-server.md §8).
 */
export function rcloneEnv(target: S3Target): NodeJS.ProcessEnv {
  const keys = staticKeys(target);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RCLONE_CONFIG_CEPH_TYPE: 's3',
    RCLONE_CONFIG_CEPH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_CEPH_ENDPOINT: target.endpoint,
    RCLONE_CONFIG_CEPH_REGION: target.region,
    RCLONE_CONFIG_CEPH_ACCESS_KEY_ID: keys.accessKeyId,
    RCLONE_CONFIG_CEPH_SECRET_ACCESS_KEY: keys.secretAccessKey,
    RCLONE_CONFIG_CEPH_FORCE_PATH_STYLE: 'true',
  };
}

/** The static keys of a test target, for the other tools (rclone, aws) that take them by env. */
export function staticKeys(target: S3Target): S3Credentials {
  if (typeof target.credentials === 'function') throw new Error('expected static test keys');
  return target.credentials;
}
