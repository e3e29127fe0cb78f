import * as core from '@actions/core';
import { runAction } from '@dify-storage/action-kit';
import { readConvertConfig } from '@dify-storage/operations';

const ACTION_ID = 'convert-workloads';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readConvertConfig();
    core.info(Object.keys(config).join(', '));
  });
}
