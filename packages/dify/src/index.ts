export { DifyApi, DifyApiError, type FetchedFile, type UploadedFile } from './api.js';
export { KEY_PREFIXES, privateKeyKey } from './keys.js';
export {
  createdSince,
  deleteProbeUploadRow,
  readStorageReferences,
  uploadFileKey,
  type ReferenceSource,
  type StorageReference,
} from './references.js';
export { signedFilePreviewUrl } from './signing.js';
export {
  LOCAL_STORAGE_KEYS,
  S3_SECRET_KEYS,
  S3_SETTING_KEYS,
  STORAGE_TYPE,
  isSecretLookingKey,
  s3StorageEnv,
  type S3StorageSettings,
} from './storage-settings.js';
