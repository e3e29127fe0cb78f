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
