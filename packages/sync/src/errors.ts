/** An error answered by the S3 server (or the network on the way to it). */
export class S3RequestError extends Error {
  override readonly name = 'S3RequestError';
  /** Its class in the exit-code table: no answer, refused credentials or an ailing server stop the check. */
  readonly outcome: 'could-not-check' | 'failed' | 'usage';
  constructor(
    message: string,
    readonly op: string,
    readonly status: number | undefined,
    readonly code: string,
    readonly retryable: boolean,
    /** Set when what answered is not S3 (no S3 error document, no x-amz-request-id): who it was. */
    readonly notS3?: string,
  ) {
    super(message);
    this.outcome = notS3
      ? 'usage'
      : status === undefined || status === 401 || status === 403 || status >= 500
        ? 'could-not-check'
        : 'failed';
  }
}

/** A problem the caller can fix: bad options, unreachable endpoint, rejected credentials. */
export class SyncConfigError extends Error {
  override readonly name = 'SyncConfigError';
  constructor(
    message: string,
    /** Its class in the exit-code table: a wrong option, or a server that could not be checked. */
    readonly outcome: 'usage' | 'could-not-check' = 'usage',
  ) {
    super(message);
  }
}

/** The run finished but some files could not be copied; `report` lists them. */
export class SyncFailedError extends Error {
  override readonly name = 'SyncFailedError';
  readonly outcome = 'failed';
  constructor(
    message: string,
    readonly report: unknown,
  ) {
    super(message);
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
