import type { DifyConfig } from '../config.js';
import { PythonError } from '../log.js';
import { Storage } from './base.js';
import { OpenDalFsStorage } from './opendal-fs.js';
import { AwsS3Storage } from './s3.js';

export { Storage, type BaseStorage } from './base.js';
export { OpenDalFsStorage } from './opendal-fs.js';
export { AwsS3Storage, toBotocoreError } from './s3.js';

/**
 * `get_storage_factory(STORAGE_TYPE)` of api/extensions/ext_storage.py for the backends the
 * emulator implements (`opendal` with scheme fs, legacy `local`, `s3`). The other valid
 * STORAGE_TYPE values fail here with a message saying they are not emulated.
 */
export async function createStorage(cfg: DifyConfig): Promise<Storage> {
  switch (cfg.storageType) {
    case 'opendal': {
      if (cfg.opendalScheme !== 'fs') {
        throw new PythonError(
          'NotImplementedError',
          `the Dify emulator implements OPENDAL_SCHEME=fs only, got ${cfg.opendalScheme}`,
        );
      }
      const root = cfg.opendalKwargs.root ?? 'storage';
      return new Storage(cfg.storageType, await OpenDalFsStorage.create(root, cfg.cwd, cfg.rootfs));
    }
    case 'local':
      return new Storage(
        cfg.storageType,
        await OpenDalFsStorage.create(cfg.storageLocalPath, cfg.cwd, cfg.rootfs),
      );
    case 's3':
      return new Storage(cfg.storageType, await AwsS3Storage.create(cfg.s3, cfg.rootfs));
    default:
      throw new PythonError(
        'NotImplementedError',
        `the Dify emulator does not implement STORAGE_TYPE=${cfg.storageType} (opendal, local and s3 are emulated)`,
      );
  }
}
