import * as core from '@actions/core';
import { classifyError } from './errors.js';

/**
 * The one top-level handler of every action: runs `main`, and on failure fails the step with a
 * message prefixed by the action's id. What the failure means comes from `classifyError` (the
 * same classes as the CLI's exit codes); only an internal error (a bug) also prints its stack.
 */
export async function runAction(actionId: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    const c = classifyError(error);
    if (c.outcome !== 'internal') {
      core.setFailed(`${actionId}: ${c.message}`);
      return;
    }
    core.setFailed(`${actionId} failed: ${c.message}`);
    if (c.stack) core.info(c.stack);
  }
}

/** Sets every output of a record; values are stringified the way the toolkit does. */
export function setOutputs(outputs: Record<string, string | number | boolean>): void {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
}
