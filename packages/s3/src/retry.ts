/**
 * The one retry policy of every S3 request the suite makes, through the AWS SDK client
 * (createS3Client) or the sync engine's own transport: how many attempts, how long between them,
 * what is worth another attempt, and how a skewed clock is corrected.
 */
export interface RetryPolicy {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** Full-jitter backoff: a random wait in [0, min(capMs, baseMs · 2^retry)). */
  baseMs: number;
  capMs: number;
}

/** 10 attempts ≈ 30 s of backoff: a gateway restart or a throttling burst passes within it. */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, baseMs: 100, capMs: 10_000 };

/** What failed, as either stack sees it: an HTTP status and the S3 error code, or an errno. */
export interface S3Failure {
  status?: number;
  /** S3 error code (`SlowDown`), SDK error name (`TimeoutError`) or errno (`ECONNRESET`). */
  code?: string;
}

/** Throttling, as S3 and S3-compatible servers name it (botocore's _THROTTLED_ERROR_CODES). */
const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'BandwidthLimitExceeded',
]);

/** Server-side trouble worth another attempt; RequestTimeTooSkewed after the clock is corrected. */
const TRANSIENT = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'OperationAborted',
  'TimeoutError',
]);

/** A connection that broke or could not be made (a gateway restarting, a reused socket closed). */
const NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

export function isThrottling(f: S3Failure): boolean {
  return f.status === 429 || (f.code !== undefined && THROTTLING.has(f.code));
}

export function isNetworkFailure(code: string | undefined): boolean {
  return code !== undefined && NETWORK.has(code);
}

/** Whether another attempt may succeed: throttling, 5xx, timeouts, resets, a skewed clock. */
export function isRetryable(f: S3Failure): boolean {
  if (isThrottling(f) || (f.status !== undefined && f.status >= 500)) return true;
  return f.code !== undefined && (TRANSIENT.has(f.code) || NETWORK.has(f.code));
}

/** The wait before retry number `retry` (0 for the first retry). */
export function backoffMs(
  retry: number,
  policy: RetryPolicy = DEFAULT_RETRY,
  random: () => number = Math.random,
): number {
  return random() * Math.min(policy.capMs, policy.baseMs * 2 ** retry);
}

/**
 * The correction to add to the local clock after RequestTimeTooSkewed: the server's `Date`
 * header minus now, or undefined when the answer carries no usable date.
 */
export function clockOffsetMs(
  serverDate: string | undefined,
  now: number = Date.now(),
): number | undefined {
  const server = serverDate ? Date.parse(serverDate) : NaN;
  return Number.isNaN(server) ? undefined : server - now;
}

/** An SDK error as the policy sees it. */
export function sdkFailure(error: unknown): S3Failure {
  const e = error as {
    name?: string;
    code?: string;
    Code?: string;
    $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
  };
  // The SDK's signer corrected its clock from the answer's Date (a HEAD answer has no code).
  const code = e.$metadata?.clockSkewCorrected
    ? 'RequestTimeTooSkewed'
    : (e.code ?? e.Code ?? e.name);
  const status = e.$metadata?.httpStatusCode;
  return { ...(status !== undefined ? { status } : {}), ...(code ? { code } : {}) };
}

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * The policy as the SDK's RetryStrategyV2 (what `retryStrategy` of a client takes): the SDK's
 * own classification and quota are replaced by `isRetryable` and `backoffMs`. The SDK corrects a
 * skewed clock itself (systemClockOffset from the error's Date) before the retry.
 */
export class SdkRetryStrategy {
  readonly mode = 'standard';
  constructor(private readonly policy: RetryPolicy = DEFAULT_RETRY) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return token(0, 0);
  }

  async refreshRetryTokenForRetry(
    previous: RetryToken,
    info: { error?: unknown; retryAfterHint?: Date },
  ): Promise<RetryToken> {
    const retry = previous.getRetryCount();
    if (retry + 1 >= this.policy.maxAttempts || !isRetryable(sdkFailure(info.error))) {
      throw info.error ?? new Error('not retryable');
    }
    const hinted = info.retryAfterHint
      ? Math.min(this.policy.capMs, info.retryAfterHint.getTime() - Date.now())
      : 0;
    return token(retry + 1, Math.max(hinted, backoffMs(retry, this.policy)));
  }

  recordSuccess(): void {}
}

function token(count: number, delay: number): RetryToken {
  return { getRetryCount: () => count, getRetryDelay: () => delay };
}
