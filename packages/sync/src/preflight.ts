import { notS3EndpointMessage, REGION_NAME } from '@dify-storage/s3';
import { S3RequestError, SyncConfigError } from './errors.js';
import type { S3Transport } from './transport.js';

/**
 * Proves before any write that the endpoint answers, the credentials are accepted, the bucket
 * exists and the region fits: one ListObjectsV2 and one GetBucketLocation, few retries.
 */
export async function preflight(t: S3Transport, region: string): Promise<void> {
  const where = `${t.endpointUrl.origin}, bucket "${t.bucket}"`;
  try {
    await t.listObjectsV2({ maxKeys: 1, maxAttempts: 2 });
  } catch (error) {
    if (!(error instanceof S3RequestError)) throw error;
    const c = error.code;
    if (error.status === undefined) {
      throw new SyncConfigError(
        `S3 endpoint unreachable (${where}): ${error.message}`,
        'could-not-check',
      );
    }
    if (error.notS3) {
      throw new SyncConfigError(notS3EndpointMessage(t.endpointUrl.origin, error.notS3));
    }
    if (c === 'NoSuchBucket' || (error.status === 404 && c === 'NotFound')) {
      throw new SyncConfigError(
        `bucket "${t.bucket}" does not exist at ${t.endpointUrl.origin} (create it first)`,
      );
    }
    if (c === 'InvalidAccessKeyId' || c === 'SignatureDoesNotMatch') {
      throw new SyncConfigError(
        `S3 credentials rejected by ${t.endpointUrl.origin} (${c}): check the access key id and secret key`,
        'could-not-check',
      );
    }
    if (
      c === 'AuthorizationHeaderMalformed' ||
      c === 'PermanentRedirect' ||
      c === 'IllegalLocationConstraintException'
    ) {
      throw new SyncConfigError(
        `region "${region}" does not match bucket "${t.bucket}" (${error.message})`,
      );
    }
    if (c === 'AccessDenied' || error.status === 403) {
      throw new SyncConfigError(
        `access denied listing bucket "${t.bucket}" at ${t.endpointUrl.origin}: the credentials need s3:ListBucket, s3:GetObject and s3:PutObject (${error.message})`,
        'could-not-check',
      );
    }
    throw new SyncConfigError(
      `S3 preflight failed (${where}): ${error.message}`,
      'could-not-check',
    );
  }
  // AWS rejects a wrong region in the signature itself; S3-compatible servers often accept any,
  // so also compare with the bucket's location when the server names a real region.
  try {
    const res = await t.send({
      op: 'GetBucketLocation',
      method: 'GET',
      query: { location: '' },
      maxAttempts: 2,
    });
    const m = /<LocationConstraint[^>]*>([^<]*)<\/LocationConstraint>/.exec(
      res.body.toString('utf8'),
    );
    const loc = m?.[1] ?? '';
    const effective = loc === '' ? 'us-east-1' : loc === 'EU' ? 'eu-west-1' : loc;
    if (
      loc !== 'default' &&
      REGION_NAME.test(effective) &&
      /\d$/.test(effective) &&
      effective !== region
    ) {
      throw new SyncConfigError(
        `region "${region}" does not match bucket "${t.bucket}", which is in "${effective}"`,
      );
    }
  } catch (error) {
    if (error instanceof SyncConfigError) throw error;
    // GetBucketLocation may be denied by policy; the listing above already proved access.
  }
}
