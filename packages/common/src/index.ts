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
export { isWithin, realPathOrSelf, storagePathRefusal } from './storage-path.js';
export {
  AtomicFileWriter,
  UnsafePathError,
  writeFileAtomic,
  writeJsonAtomic,
} from './atomic-write.js';
export { formatBytes, formatDuration } from './format.js';
export { sleep } from './sleep.js';
export { childEnv } from './child-env.js';
export { comparePaths, compareNames } from './path-order.js';
