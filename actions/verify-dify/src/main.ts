import * as core from '@actions/core';
import { runAction } from '@dify-storage/action-kit';
import { readVerifyConfig } from '@dify-storage/operations';

const ACTION_ID = 'verify-dify';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readVerifyConfig();
    core.info(Object.keys(config).join(', '));
  });
}
