import * as core from '@actions/core';
import { runAction } from '@dify-storage/action-kit';
import { ACTION_ID } from './constants.js';
import { readConfig } from './inputs.js';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readConfig();
    core.info(`mode ${config.mode}`);
  });
}
