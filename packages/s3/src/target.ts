import type { CredentialSource } from './credentials.js';

/**
 * The bucket and how to reach it: the one shape every module uses (parsed and validated once,
 * by action-kit's parseS3Target; below that, trusted).
 */
export interface S3Target {
  bucket: string;
  /** `http(s)://host:port` of an S3-compatible server; absent for AWS (`https://s3.<region>.amazonaws.com`). */
  endpoint?: string;
  region: string;
  /** Path-style addressing (`http://host/bucket/key`), what MinIO and RGW need; default true. */
  forcePathStyle?: boolean;
  /** Static keys, or a provider (the AWS chain) asked again before its answer expires. */
  credentials: CredentialSource;
  /**
   * PEM of the CA(s) an https endpoint's certificate chains to (a private CA); it replaces the
   * public roots, as boto3's AWS_CA_BUNDLE does. Certificates are always verified.
   */
  caBundle?: string;
}

/** A region name such as us-east-1 (AWS) or default (Ceph RGW's zonegroup): the one rule. */
export const REGION_NAME = /^(?=.{2,32}$)[a-z0-9]+(-[a-z0-9]+)*$/;
