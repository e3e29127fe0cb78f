import os from 'node:os';
import { SyncConfigError } from './errors.js';
import type { S3Target } from '@dify-storage/s3';
import type { TransportOptions } from './transport.js';
import type { ProgressEvent } from './report.js';

/** Options shared by every operation that talks to a bucket. */
export interface BucketOptions {
  target: S3Target;
  /** Key prefix in the bucket (`''` = bucket root). */
  prefix?: string;
  /** Parallel requests; default: 32 per CPU core capped at 64 (small files are latency-bound). */
  concurrency?: number;
  transport?: TransportOptions;
  onProgress?: (event: ProgressEvent) => void;
  /** Minimum time between progress events (default 2000 ms). */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export function defaultConcurrency(): number {
  return Math.min(64, Math.max(16, os.availableParallelism() * 16));
}

export function positiveInt(
  name: string,
  value: number | undefined,
  fallback: number,
  min = 1,
  max = 1e9,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SyncConfigError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}
