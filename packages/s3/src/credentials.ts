import { defaultProvider } from '@aws-sdk/credential-provider-node';

/** The suite's own S3 credentials, in the one shape every module passes around. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (STS, web identity, instance role) carry one. */
  sessionToken?: string;
  /** When temporary credentials stop working; absent for static keys. */
  expiration?: Date;
}

/** A source of credentials that may change while a long copy runs (the AWS chain, a test's). */
export type CredentialsProvider = () => Promise<S3Credentials>;

/** Static keys, or a provider asked again before what it gave expires. */
export type CredentialSource = S3Credentials | CredentialsProvider;

/**
 * The standard AWS credential chain, as the SDK resolves it when given no keys: environment
 * (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN), SSO, web identity (IRSA: AWS_WEB_IDENTITY_TOKEN_FILE +
 * AWS_ROLE_ARN), the shared config and credentials files (AWS_PROFILE), then ECS/EC2 instance
 * metadata. `@aws-sdk/credential-providers`' fromNodeProviderChain is this same function.
 */
export function createAwsCredentialChain(): CredentialsProvider {
  const chain = defaultProvider();
  return async () => {
    try {
      return await chain();
    } catch (error) {
      throw new NoCredentialsError(error);
    }
  };
}

let processChain: CredentialsProvider | undefined;

/** The process's one AWS chain (it caches what it found until that expires). */
export function awsCredentialChain(): CredentialsProvider {
  processChain ??= createAwsCredentialChain();
  return processChain;
}

/** The chain found nothing: the run cannot check anything in the bucket (exit 4). */
export class NoCredentialsError extends Error {
  override readonly name = 'NoCredentialsError';
  readonly outcome = 'could-not-check';
  constructor(cause: unknown) {
    super(
      `no S3 credentials: give 'access-key-id' and 'secret-access-key', or make credentials available to the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared config files, web identity (IRSA), instance metadata): ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
  }
}

/** Refresh this long before credentials expire, as the SDK does (botocore uses 15 min/10 min). */
export const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * The credentials one client signs with: static keys as given, or a provider's answer cached
 * until `REFRESH_MARGIN_MS` before it expires. Concurrent requests share one refresh.
 */
export class CredentialsCache {
  private current: S3Credentials | undefined;
  private pending: Promise<S3Credentials> | undefined;
  private readonly provider: CredentialsProvider | undefined;

  constructor(
    source: CredentialSource,
    private readonly now: () => number = Date.now,
  ) {
    if (typeof source === 'function') this.provider = source;
    else this.current = source;
  }

  /** Whether these credentials can change (a provider rather than static keys). */
  get refreshable(): boolean {
    return this.provider !== undefined;
  }

  /** The credentials to sign the next request with. */
  get(): Promise<S3Credentials> {
    if (this.current && !this.expiring(this.current)) return Promise.resolve(this.current);
    if (!this.provider) return Promise.resolve(this.current!);
    this.pending ??= this.provider().then(
      (fresh) => {
        this.current = fresh;
        this.pending = undefined;
        return fresh;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }

  /** The server refused the token (expired early, revoked): ask the provider again. */
  invalidate(): void {
    if (this.provider) this.current = undefined;
  }

  private expiring(c: S3Credentials): boolean {
    return c.expiration !== undefined && c.expiration.getTime() - this.now() < REFRESH_MARGIN_MS;
  }
}
