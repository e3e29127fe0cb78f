import * as core from '@actions/core';
import { runAction } from '@dify-storage/action-kit';
import { readMigrateConfig } from '@dify-storage/operations';

const ACTION_ID = 'migrate-to-s3';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readMigrateConfig();
    core.info(Object.keys(config).join(', '));
  });
}
