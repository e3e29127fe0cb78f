/**
 * Dify 1.3.0's storage settings as environment variables (api/configs/middleware and
 * extensions/storage): what the cutover writes, what verification reads back from pods.
 */
export const STORAGE_TYPE = 'STORAGE_TYPE';

/** Keys that select the local file system; the cutover removes them. */
export const LOCAL_STORAGE_KEYS = [
  'OPENDAL_SCHEME',
  'OPENDAL_FS_ROOT',
  'STORAGE_LOCAL_PATH',
] as const;

/** Keys of the S3 storage that are not secret (ConfigMap). */
export const S3_SETTING_KEYS = [
  'S3_ENDPOINT',
  'S3_BUCKET_NAME',
  'S3_REGION',
  'S3_ADDRESS_STYLE',
  'S3_USE_AWS_MANAGED_IAM',
] as const;

/** Keys of the S3 storage that are secret: never in a ConfigMap. */
export const S3_SECRET_KEYS = ['S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const;

export interface S3StorageSettings {
  endpoint: string;
  bucket: string;
  region: string;
}

/**
 * The non-secret environment that makes Dify use the bucket. Path style is explicit (botocore
 * already uses it whenever an endpoint is set; being explicit costs nothing) and managed IAM is
 * off, because with it Dify ignores S3_ENDPOINT.
 */
export function s3StorageEnv(s: S3StorageSettings): Record<string, string> {
  return {
    [STORAGE_TYPE]: 's3',
    S3_ENDPOINT: s.endpoint,
    S3_BUCKET_NAME: s.bucket,
    S3_REGION: s.region,
    S3_ADDRESS_STYLE: 'path',
    S3_USE_AWS_MANAGED_IAM: 'false',
  };
}

/** True when a key looks like it holds a credential, so plans and logs redact its value. */
export function isSecretLookingKey(key: string): boolean {
  return /(SECRET|PASSWORD|TOKEN|_KEY$|ACCESS_KEY|CREDENTIAL|PRIVATE)/i.test(key);
}
