export {
  createS3Client,
  s3SettingsFromEnv,
  type S3Credentials,
  type S3Settings,
} from './client.js';
export { multipartEtag, unquoteEtag } from './etag.js';
