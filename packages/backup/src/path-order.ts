// The archive's order lives in common: the sync engine joins backup manifests in it too.
export { comparePaths, compareNames } from '@dify-storage/common';
