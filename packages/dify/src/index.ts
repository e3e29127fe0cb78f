export { DifyApi, DifyApiError, type FetchedFile, type UploadedFile } from './api.js';
export { privateKeyKey } from './keys.js';
export { isFsFilePath, normalizeFsPath } from './opendal-path.js';
export {
  createdSince,
  deleteProbeUploadRow,
  readStorageReferences,
  REFERENCE_KINDS,
  uploadFileKey,
  type ReferenceKind,
  type StorageReference,
} from './references.js';
export { signedFilePreviewUrl } from './signing.js';
export {
  assertDataIdentity,
  checkDataIdentity,
  DataIdentityError,
  IDENTITY_SAMPLE_SIZE,
  IDENTITY_MISSING_ALLOWANCE,
  IDENTITY_THRESHOLD,
  type DataIdentityResult,
} from './identity.js';
export { SourceTree, type SourceFile } from './source-tree.js';
