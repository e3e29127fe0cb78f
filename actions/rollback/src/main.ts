import * as core from '@actions/core';
import { runAction } from '@dify-storage/action-kit';
import { readRollbackConfig } from '@dify-storage/operations';

const ACTION_ID = 'rollback';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readRollbackConfig();
    core.info(Object.keys(config).join(', '));
  });
}
