/** Dify 1.3.0 emulator (api + worker) and the install seeder: the public surface for tests. */
export { loadConfig, STORAGE_TYPES, type DifyConfig, type StorageType } from './config.js';
export { createDbPool, createDbPoolFromUrl, naiveUtc } from './db.js';
export { ensureSchema, SCHEMA_SQL, type Db } from './schema.js';
export { createStorage, Storage, OpenDalFsStorage, AwsS3Storage } from './storage/index.js';
export {
  createTenant,
  createApp,
  createDataset,
  provisionWorkspace,
  generateApiKey,
  type CreatedTenant,
  type Workspace,
} from './tenants.js';
export {
  uploadFile,
  uploadText,
  createToolFile,
  type UploadFileRow,
  type ToolFileRow,
} from './files.js';
export { buildDocx, extractDocx, type DocxParagraph } from './docx.js';
export {
  fileSignature,
  signFileParams,
  signedFilePreviewUrl,
  signedToolFileUrl,
  verifyFileSignature,
} from './signing.js';
export {
  uploadFileKey,
  imageFileKey,
  toolFileKey,
  privkeyKey,
  keywordFileKey,
  uploadExtension,
} from './keys.js';
export { decryptToken, PrivkeyNotFoundError } from './encrypter.js';
export { keywordTableDict } from './keyword.js';
export { DATASET_QUEUE, TASKS, encodeTask, decodeTask } from './queue.js';
export { difyEmulatorCommand, DIFY_MAIN } from './command.js';
export { FileNotFoundError, ClientError, PythonError } from './log.js';
export {
  seedInstall,
  hashTree,
  type SeedOptions,
  type SeedSummary,
  type SeededTenant,
  type TreeHash,
} from './seed.js';
export { type SeededCases } from './seed-cases.js';
export { normalizePath } from './storage/opendal-fs.js';
export { difyRuntime, type DifyContainerContext, type DifyProcessSpec } from './runtime.js';
