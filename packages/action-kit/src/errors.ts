/**
 * What a run came to, one meaning per exit code for every command of the CLI and every
 * action's verdict (README "Exit codes"). Only `internal` (a bug) is reported with a stack.
 */
export const EXIT_CODES = {
  /** Done, and what was checked is right. */
  done: 0,
  /** Something was checked and is wrong (a verify stage failed, files did not copy). */
  failed: 1,
  /** Usage or input error: a flag, a name, a path that is wrong. Nothing was changed. */
  usage: 2,
  /** Blocked or incomplete: plan blockers, verify with skipped stages, a mixed install, a held lock. */
  blocked: 3,
  /** Could not check: a server unreachable, credentials refused, no kubeconfig. */
  'could-not-check': 4,
  /** A bug: the only class printed with its stack trace. */
  internal: 70,
} as const;

export type Outcome = keyof typeof EXIT_CODES;

/** The table as the CLI's --help, the README and the runbook print it. */
export const EXIT_CODE_TABLE = [
  '0   done (and verified)',
  '1   failed: something was checked and is wrong',
  '2   usage or input error; nothing was changed',
  '3   blocked or incomplete (plan blockers, skipped verify stages, mixed install, lock held)',
  '4   could not check (server unreachable, credentials refused, no kubeconfig)',
  '70  internal error (a bug; printed with its stack trace)',
].join('\n');

/** An Error class whose instances declare their class in the table. */
function outcomeError<O extends Outcome>(name: string, outcome: O) {
  return class extends Error {
    override readonly name: string = name;
    readonly outcome: O = outcome;
  };
}

/**
 * A problem the user can fix (a bad input, a name that does not exist, a path that is not the
 * storage). The top-level handler prints only its message and exits 2.
 */
export class ConfigurationError extends outcomeError('ConfigurationError', 'usage') {}

/**
 * The operation ran as designed and found a problem in the system it checks (a stage of the
 * data flow failed, a backup did not verify). Like a ConfigurationError it prints no stack.
 */
export class CheckFailedError extends outcomeError('CheckFailedError', 'failed') {}

/** The operation refused to go on: a blocker, an incomplete record, a mixed install, a held lock. */
export class BlockedError extends outcomeError('BlockedError', 'blocked') {}

/** Something needed to decide could not be reached or read: a server, credentials, a kubeconfig. */
export class CouldNotCheckError extends outcomeError('CouldNotCheckError', 'could-not-check') {}

/** Errno codes of a server that could not be reached (Node's net/dns/tls errors). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const OUTCOMES = new Set(Object.keys(EXIT_CODES));

/** The outcome one error declares: its `outcome` field (library errors), or an errno it carries. */
function declaredOutcome(error: object): Outcome | undefined {
  const e = error as { outcome?: unknown; code?: unknown };
  if (typeof e.outcome === 'string' && OUTCOMES.has(e.outcome)) return e.outcome as Outcome;
  if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return 'could-not-check';
  return undefined;
}

/** The error and its causes, outermost first (bounded: a cycle must not hang the handler). */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 10;) {
    chain.push(e);
    if (e instanceof AggregateError && e.errors.length > 0 && !(e as Error).cause) e = e.errors[0];
    else e = e instanceof Error ? e.cause : undefined;
  }
  return chain;
}

export interface ClassifiedError {
  outcome: Outcome;
  exitCode: number;
  /** One message for the user: the outer message, plus the causes' when it does not say them. */
  message: string;
  /** Only for `internal`: the stack to report the bug with. */
  stack?: string;
}

/**
 * The one classifier of failures, for the CLI and every action: walks the cause chain and takes
 * the first error that declares what it means (an `outcome` field, or a network errno);
 * wrappers such as ConvertFailedError declare nothing and pass the question on. An error that
 * nothing in its chain declares is a bug.
 */
export function classifyError(error: unknown): ClassifiedError {
  let outcome: Outcome = 'internal';
  let message = errorMessage(error);
  for (const e of causeChain(error)) {
    const found = typeof e === 'object' && e !== null ? declaredOutcome(e) : undefined;
    if (!found) continue;
    outcome = found;
    // "fetch failed" says little; the cause that explains it ("connect ECONNREFUSED …") does.
    const text = e instanceof Error ? e.message : '';
    if (text && !message.includes(text)) message = `${message}: ${text}`;
    break;
  }
  const classified: ClassifiedError = { outcome, exitCode: EXIT_CODES[outcome], message };
  if (outcome === 'internal' && error instanceof Error && error.stack) {
    classified.stack = error.stack;
  }
  return classified;
}

export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError) {
    return [error.message, ...error.errors.map((e) => `  - ${errorMessage(e)}`)].join('\n');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
