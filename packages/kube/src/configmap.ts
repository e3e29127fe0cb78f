import type { ConfigMap } from './types.js';

export type AddressStyle = 'path' | 'virtual' | 'auto';

export interface S3StorageSettings {
  endpoint: string;
  bucket: string;
  region: string;
  addressStyle?: AddressStyle;
}

/** Keys Dify reads the credentials from; they belong in a Secret, never in a ConfigMap. */
export const S3_CREDENTIAL_KEYS = ['S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const;

/** Keys of the local/OpenDAL storage that must go once the storage is S3. */
export function isLocalStorageKey(key: string): boolean {
  return key.startsWith('OPENDAL_') || key === 'STORAGE_LOCAL_PATH';
}

/** Non-secret settings Dify 1.3.0 needs for S3 (MinIO/RGW: path style, no IAM role). */
export function s3StorageEnv(settings: S3StorageSettings): Record<string, string> {
  const problems: string[] = [];
  if (!/^https?:\/\/[^\s/]+/.test(settings.endpoint)) {
    problems.push(`endpoint "${settings.endpoint}" is not an http(s) URL`);
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(settings.bucket)) {
    problems.push(`bucket "${settings.bucket}" is not a valid S3 bucket name`);
  }
  if (!settings.region.trim()) problems.push('region is empty');
  const style = settings.addressStyle ?? 'path';
  if (!['path', 'virtual', 'auto'].includes(style)) {
    problems.push(`addressStyle "${style}" is not one of path, virtual, auto`);
  }
  if (problems.length) throw new Error(`invalid S3 settings: ${problems.join('; ')}`);
  return {
    STORAGE_TYPE: 's3',
    S3_ENDPOINT: settings.endpoint,
    S3_BUCKET_NAME: settings.bucket,
    S3_REGION: settings.region,
    S3_ADDRESS_STYLE: style,
    S3_USE_AWS_MANAGED_IAM: 'false',
  };
}

export interface ConfigMapKeyChange {
  key: string;
  change: 'added' | 'removed' | 'changed';
  before?: string;
  after?: string;
}

export interface S3ConfigMapResult {
  /** The new `data` map. */
  data: Record<string, string>;
  changes: ConfigMapKeyChange[];
  /** Credential keys that were found in the ConfigMap and are removed by this change. */
  removedCredentialKeys: string[];
}

/**
 * Computes the ConfigMap data that switches Dify to S3: the S3 settings set, the OpenDAL and
 * STORAGE_LOCAL_PATH keys removed. Credentials found in the ConfigMap are removed (and
 * reported): they must come from the Secret.
 */
export function s3ConfigMapPatch(cm: ConfigMap, settings: S3StorageSettings): S3ConfigMapResult {
  const env = s3StorageEnv(settings);
  for (const key of S3_CREDENTIAL_KEYS) {
    if (key in env)
      throw new Error(`refusing to put ${key} into a ConfigMap; it belongs in a Secret`);
  }
  const before = cm.data ?? {};
  const data: Record<string, string> = {};
  const changes: ConfigMapKeyChange[] = [];
  const removedCredentialKeys: string[] = [];
  for (const [key, value] of Object.entries(before)) {
    if (isLocalStorageKey(key) || (S3_CREDENTIAL_KEYS as readonly string[]).includes(key)) {
      changes.push({ key, change: 'removed', before: value });
      if ((S3_CREDENTIAL_KEYS as readonly string[]).includes(key)) removedCredentialKeys.push(key);
      continue;
    }
    data[key] = value;
  }
  for (const [key, value] of Object.entries(env)) {
    if (!(key in before)) changes.push({ key, change: 'added', after: value });
    else if (before[key] !== value)
      changes.push({ key, change: 'changed', before: before[key], after: value });
    data[key] = value;
  }
  changes.sort((a, b) => a.key.localeCompare(b.key));
  return { data, changes, removedCredentialKeys };
}

/** True when the ConfigMap already selects S3 with exactly these settings and holds no local keys. */
export function isConfigMapConverted(cm: ConfigMap, settings: S3StorageSettings): boolean {
  return s3ConfigMapPatch(cm, settings).changes.length === 0;
}
