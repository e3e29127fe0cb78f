export { createS3Client, type S3Settings } from './client.js';
export {
  awsCredentialChain,
  createAwsCredentialChain,
  CredentialsCache,
  NoCredentialsError,
  REFRESH_MARGIN_MS,
  type CredentialSource,
  type CredentialsProvider,
  type S3Credentials,
} from './credentials.js';
export {
  backoffMs,
  clockOffsetMs,
  DEFAULT_RETRY,
  isNetworkFailure,
  isRetryable,
  isThrottling,
  SdkRetryStrategy,
  sdkFailure,
  type RetryPolicy,
  type S3Failure,
} from './retry.js';
export { multipartEtag, unquoteEtag } from './etag.js';
export { NotS3EndpointError, notS3Answer, notS3EndpointMessage, rejectNotS3 } from './not-s3.js';
export { REGION_NAME, type S3Target } from './target.js';
