export {
  createS3Client,
  s3SettingsFromEnv,
  type S3Credentials,
  type S3Settings,
} from './client.js';
export { multipartEtag, unquoteEtag } from './etag.js';
export { NotS3EndpointError, notS3Answer, notS3EndpointMessage, rejectNotS3 } from './not-s3.js';
