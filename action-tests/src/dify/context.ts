import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { DifyConfig } from './config.js';
import type { Storage } from './storage/index.js';

/** What a request handler or task needs: Dify's `dify_config`, `db`, `storage` and broker. */
export interface DifyContext {
  config: DifyConfig;
  db: pg.Pool;
  storage: Storage;
  broker: Redis;
}

/** An HTTP error rendered as Dify's ExternalApi does: `{code, message, status}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
