import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PythonError } from './log.js';

/** The `STORAGE_TYPE` Literal of Dify 1.3.0's StorageConfig, in its declaration order. */
export const STORAGE_TYPES = [
  'opendal',
  's3',
  'aliyun-oss',
  'azure-blob',
  'baidu-obs',
  'google-storage',
  'huawei-obs',
  'oci-storage',
  'tencent-cos',
  'volcengine-tos',
  'supabase',
  'local',
] as const;
export type StorageType = (typeof STORAGE_TYPES)[number];

export interface S3Config {
  endpoint?: string;
  region?: string;
  bucketName?: string;
  accessKey?: string;
  secretKey?: string;
  addressStyle: string;
  useAwsManagedIam: boolean;
  /**
   * botocore's `verify`: the CA bundle path from AWS_CA_BUNDLE (session.py:928-929,
   * configprovider.py:59), else REQUESTS_CA_BUNDLE (endpoint.py:438-449), else true (certifi,
   * httpsession.py:92-99). A set but empty variable is a falsy path: no verification at all
   * (httpsession.py:376-382), as in botocore 1.35.99.
   */
  verify: string | true;
}

export interface DifyConfig {
  cwd: string;
  storageType: StorageType;
  /** OPENDAL_SCHEME (only `fs` is emulated). */
  opendalScheme: string;
  /** kwargs from OPENDAL_<SCHEME>_* (and the CWD's .env), lowercased names. */
  opendalKwargs: Record<string, string>;
  storageLocalPath: string;
  s3: S3Config;
  db: { user: string; password: string; host: string; port: number; database: string };
  redis: { host: string; port: number; username?: string; password?: string; db: number };
  /** CELERY_BROKER_URL; when absent the task queue lives in the REDIS_* database. */
  celeryBrokerUrl?: string;
  secretKey: string;
  filesUrl: string;
  filesAccessTimeout: number;
  uploadFileSizeLimitMb: number;
  uploadImageFileSizeLimitMb: number;
  uploadVideoFileSizeLimitMb: number;
  uploadAudioFileSizeLimitMb: number;
  bindAddress: string;
  port: number;
  deployEnv: string;
  migrationEnabled: boolean;
  /** Enables POST /console/api/workspaces (emulator only) when set. */
  adminToken?: string;
  /** How file-preview ends when the object is missing (see README). */
  missingObjectResponse: 'truncate' | 'empty-reply';
  /**
   * DIFY_EMULATOR_ROOTFS: the simulated container's root directory. An absolute storage root
   * (e.g. STORAGE_LOCAL_PATH=/app/api/storage) resolves under it instead of the real `/`.
   */
  rootfs?: string;
}

/** Pydantic's `ValidationError` text for a settings field (what a crashing Dify prints). */
export class ConfigValidationError extends PythonError {
  constructor(field: string, detail: string) {
    super(
      'pydantic_core._pydantic_core.ValidationError',
      `1 validation error for DifyConfig\n${field}\n  ${detail}`,
    );
  }
}

function pyRepr(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function literalError(
  field: string,
  value: string,
  allowed: readonly string[],
): ConfigValidationError {
  const options = allowed.map(pyRepr);
  const listed = `${options.slice(0, -1).join(', ')} or ${options[options.length - 1]}`;
  return new ConfigValidationError(
    field,
    `Input should be ${listed} [type=literal_error, input_value=${pyRepr(value)}, input_type=str]`,
  );
}

function intField(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new ConfigValidationError(
      name,
      `Input should be a valid integer, unable to parse string as an integer [type=int_parsing, input_value=${pyRepr(raw)}, input_type=str]`,
    );
  }
  return Number(raw.trim());
}

/** Pydantic's lax bool parsing. */
function boolField(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 't', 'yes', 'y', 'on'].includes(v)) return true;
  if (['0', 'false', 'f', 'no', 'n', 'off'].includes(v)) return false;
  throw new ConfigValidationError(
    name,
    `Input should be a valid boolean, unable to interpret input [type=bool_parsing, input_value=${pyRepr(raw)}, input_type=str]`,
  );
}

function opt(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Minimal dotenv reader: Dify's `_get_opendal_kwargs` fills gaps from `.env` in the CWD. */
function readDotEnv(cwd: string): Record<string, string> {
  const file = path.join(cwd, '.env');
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** `OPENDAL_<SCHEME>_<NAME>` → `{ name: value }`, environment first, then `.env`. */
export function opendalKwargs(
  scheme: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Record<string, string> {
  const prefix = `OPENDAL_${scheme.toUpperCase()}_`;
  const kwargs: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith(prefix) && v !== undefined) kwargs[k.slice(prefix.length).toLowerCase()] = v;
  }
  for (const [k, v] of Object.entries(readDotEnv(cwd))) {
    const name = k.slice(prefix.length).toLowerCase();
    if (k.startsWith(prefix) && !(name in kwargs)) kwargs[name] = v;
  }
  return kwargs;
}

/** Reads the settings the way Dify 1.3.0's pydantic DifyConfig does (env only). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): DifyConfig {
  const storageType = env.STORAGE_TYPE ?? 'opendal';
  if (!(STORAGE_TYPES as readonly string[]).includes(storageType)) {
    throw literalError('STORAGE_TYPE', storageType, STORAGE_TYPES);
  }
  const addressStyle = env.S3_ADDRESS_STYLE ?? 'auto';
  const opendalScheme = env.OPENDAL_SCHEME ?? 'fs';
  // gunicorn 23 closes the socket without a response on an OSError before the first body chunk
  // (base_async.py:74-87,126-129; dify-1.3.0-fidelity.md §11): the default.
  const missing = env.DIFY_EMULATOR_MISSING_OBJECT_RESPONSE ?? 'empty-reply';
  if (missing !== 'truncate' && missing !== 'empty-reply') {
    throw literalError('DIFY_EMULATOR_MISSING_OBJECT_RESPONSE', missing, [
      'truncate',
      'empty-reply',
    ]);
  }
  return {
    cwd,
    storageType: storageType as StorageType,
    opendalScheme,
    opendalKwargs: opendalKwargs(opendalScheme, env, cwd),
    storageLocalPath: env.STORAGE_LOCAL_PATH ?? 'storage',
    s3: {
      endpoint: opt(env, 'S3_ENDPOINT'),
      region: opt(env, 'S3_REGION'),
      bucketName: opt(env, 'S3_BUCKET_NAME'),
      accessKey: opt(env, 'S3_ACCESS_KEY'),
      secretKey: opt(env, 'S3_SECRET_KEY'),
      addressStyle,
      useAwsManagedIam: boolField(env, 'S3_USE_AWS_MANAGED_IAM', false),
      verify: env.AWS_CA_BUNDLE ?? env.REQUESTS_CA_BUNDLE ?? true,
    },
    db: {
      user: env.DB_USERNAME ?? 'postgres',
      password: env.DB_PASSWORD ?? '',
      host: env.DB_HOST ?? 'localhost',
      port: intField(env, 'DB_PORT', 5432),
      database: env.DB_DATABASE ?? 'dify',
    },
    redis: {
      host: env.REDIS_HOST ?? 'localhost',
      port: intField(env, 'REDIS_PORT', 6379),
      username: opt(env, 'REDIS_USERNAME'),
      password: opt(env, 'REDIS_PASSWORD'),
      db: intField(env, 'REDIS_DB', 0),
    },
    celeryBrokerUrl: opt(env, 'CELERY_BROKER_URL'),
    secretKey: env.SECRET_KEY ?? '',
    filesUrl: env.FILES_URL ?? '',
    filesAccessTimeout: intField(env, 'FILES_ACCESS_TIMEOUT', 300),
    uploadFileSizeLimitMb: intField(env, 'UPLOAD_FILE_SIZE_LIMIT', 15),
    uploadImageFileSizeLimitMb: intField(env, 'UPLOAD_IMAGE_FILE_SIZE_LIMIT', 10),
    uploadVideoFileSizeLimitMb: intField(env, 'UPLOAD_VIDEO_FILE_SIZE_LIMIT', 100),
    uploadAudioFileSizeLimitMb: intField(env, 'UPLOAD_AUDIO_FILE_SIZE_LIMIT', 50),
    // Dify binds 0.0.0.0; the emulator stays on loopback unless told otherwise.
    bindAddress: env.DIFY_BIND_ADDRESS ?? '127.0.0.1',
    port: intField(env, 'DIFY_PORT', 5001),
    deployEnv: env.DEPLOY_ENV ?? 'PRODUCTION',
    migrationEnabled: boolField(env, 'MIGRATION_ENABLED', true),
    adminToken: opt(env, 'DIFY_EMULATOR_ADMIN_TOKEN'),
    missingObjectResponse: missing,
    rootfs: opt(env, 'DIFY_EMULATOR_ROOTFS'),
  };
}
