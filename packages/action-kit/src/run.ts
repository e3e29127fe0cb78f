import * as core from '@actions/core';
import { CheckFailedError, ConfigurationError, errorMessage } from './errors.js';

export type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * The one top-level handler of every action: runs `main`, and on failure fails the step with a
 * message prefixed by the action's id. User-fixable problems (ConfigurationError, a failed
 * check, and the `expected` error classes of the libraries) print just their message; anything
 * else is a bug and also prints its stack, so it can be reported.
 */
export async function runAction(
  actionId: string,
  main: () => Promise<void>,
  { expected = [] }: { expected?: readonly ErrorClass[] } = {},
): Promise<void> {
  try {
    await main();
  } catch (error) {
    const known = [ConfigurationError, CheckFailedError, ...expected].some(
      (c) => error instanceof c,
    );
    if (known) {
      core.setFailed(`${actionId}: ${errorMessage(error)}`);
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
