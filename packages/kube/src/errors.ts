/** One entry of a Status' `details.causes` (422 Invalid carries one per rejected field). */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/**
 * An error answered by the API server, parsed from its Status body, so callers can branch on
 * `code`/`reason` and show the server's own explanation (with every cause of a 422).
 */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly code: number;
  readonly reason: string;
  readonly serverMessage: string;
  readonly causes: StatusCause[];
  readonly method: string;
  readonly path: string;
  /** Its class in the exit-code table: refused credentials and an ailing server stop the check. */
  readonly outcome: 'could-not-check' | 'failed';

  constructor(args: {
    code: number;
    reason: string;
    serverMessage: string;
    causes?: StatusCause[];
    method: string;
    path: string;
  }) {
    const causes = args.causes ?? [];
    const causeLines = causes.map(
      (c) => `\n  - ${c.field ? `${c.field}: ` : ''}${c.message ?? c.reason ?? 'invalid'}`,
    );
    super(
      `${args.method} ${args.path} failed with ${args.code} ${args.reason}: ${args.serverMessage}${causeLines.join('')}`,
    );
    this.code = args.code;
    this.reason = args.reason;
    this.serverMessage = args.serverMessage;
    this.causes = causes;
    this.method = args.method;
    this.path = args.path;
    this.outcome =
      args.code === 401 || args.code === 403 || args.code === 429 || args.code >= 500
        ? 'could-not-check'
        : 'failed';
  }

  static fromResponse(method: string, path: string, code: number, bodyText: string): KubeApiError {
    let status: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(bodyText);
      if (parsed && typeof parsed === 'object') status = parsed as Record<string, unknown>;
    } catch {
      status = undefined;
    }
    const details = (status?.details ?? {}) as { causes?: StatusCause[] };
    return new KubeApiError({
      code,
      reason: typeof status?.reason === 'string' && status.reason ? status.reason : reasonFor(code),
      serverMessage:
        typeof status?.message === 'string' ? status.message : bodyText.slice(0, 500) || '(empty)',
      causes: Array.isArray(details.causes) ? details.causes : [],
      method,
      path,
    });
  }
}

function reasonFor(code: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Gone',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return reasons[code] ?? 'Unknown';
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 404;
}

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 409 && error.reason === 'Conflict';
}

export function isAlreadyExists(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 409 && error.reason === 'AlreadyExists';
}

/** The cluster is not in a shape the operation can handle; the message says what was found. */
export class KubeStateError extends Error {
  override readonly name: string = 'KubeStateError';
  /** Its class in the exit-code table: the operation refuses to go on. */
  readonly outcome: 'blocked' | 'failed' = 'blocked';
}

/** A rollout that did not finish (crash loop, deadline exceeded, timed out). */
export class RolloutFailedError extends KubeStateError {
  override readonly name = 'RolloutFailedError';
  override readonly outcome = 'failed';
}

/** The API server did not answer (refused, unresolvable, timed out). */
export class KubeUnreachableError extends Error {
  override readonly name = 'KubeUnreachableError';
  readonly outcome = 'could-not-check';
}
