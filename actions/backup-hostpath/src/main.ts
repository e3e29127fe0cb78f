import * as core from '@actions/core';
import { runAction } from '@dify-storage/action-kit';
import { readBackupConfig } from '@dify-storage/operations';

const ACTION_ID = 'backup-hostpath';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readBackupConfig();
    core.info(Object.keys(config).join(', '));
  });
}
