import * as core from '@actions/core';
import { CheckFailedError, ConfigurationError, errorMessage } from './errors.js';

/**
 * The one top-level handler of every action: runs `main`, and on failure fails the step with a
 * message prefixed by the action's id. User-fixable problems print just their message; bugs
 * also print their stack, so they can be reported.
 */
export async function runAction(actionId: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof ConfigurationError || error instanceof CheckFailedError) {
      core.setFailed(`${actionId}: ${error.message}`);
      return;
    }
    core.setFailed(`${actionId} failed: ${errorMessage(error)}`);
    if (error instanceof Error && error.stack) core.info(error.stack);
  }
}

/** Sets every output of a record; values are stringified the way the toolkit does. */
export function setOutputs(outputs: Record<string, string | number | boolean>): void {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
}
