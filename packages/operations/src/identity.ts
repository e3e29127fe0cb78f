import { assertDataIdentity } from '@dify-storage/dify';
import type { Logger } from './logger.js';

/** §6: the directory must be the storage the pods see, before anything is read from it. */
export async function checkStorageIdentity(
  databaseUrl: string | undefined,
  storageRoot: string,
  log: Logger,
): Promise<void> {
  if (!databaseUrl) {
    log.warn(
      `data identity not checked: without 'database-url' nothing proves ${storageRoot} is the directory the Dify pods use`,
    );
    return;
  }
  log.info((await assertDataIdentity({ databaseUrl, storageRoot })).message);
}
