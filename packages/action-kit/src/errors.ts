/**
 * A problem the user can fix (a bad input, a missing permission, a cluster in an unexpected
 * shape). The top-level handler prints only its message; anything else is treated as a bug
 * and gets its stack trace logged.
 */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/**
 * The operation ran as designed and found a problem in the system it checks (a stage of the
 * data flow failed, a backup did not verify). Like a ConfigurationError it prints no stack.
 */
export class CheckFailedError extends Error {
  override readonly name = 'CheckFailedError';
}

export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError) {
    return [error.message, ...error.errors.map((e) => `  - ${errorMessage(e)}`)].join('\n');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
