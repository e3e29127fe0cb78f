export {
  CHANGED_DURING_WALK,
  ChangedDuringWalkError,
  DirHandle,
  FILE_OPEN_FLAGS,
  assertSameFile,
  fstatAsync,
  lstatAsync,
  openEntry,
  openEntrySync,
  sameIdentity,
  type FileIdentity,
} from './safe-fs.js';
export { realPathOrSelf, storagePathRefusal } from './storage-path.js';
export { UnsafePathError, writeFileAtomic } from './atomic-write.js';
export { childEnv } from './child-env.js';
