import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import type { DifyConfig } from './config.js';

/** The Celery queue Dify routes indexing and cleanup tasks to (`@shared_task(queue="dataset")`). */
export const DATASET_QUEUE = 'dataset';

export const TASKS = {
  documentIndexing: 'tasks.document_indexing_task.document_indexing_task',
  cleanDocument: 'tasks.clean_document_task.clean_document_task',
} as const;

export interface TaskMessage {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** The broker connection: CELERY_BROKER_URL, or the REDIS_* settings when it is unset. */
export function createBrokerRedis(cfg: DifyConfig): Redis {
  const common = { maxRetriesPerRequest: 3, lazyConnect: false, enableReadyCheck: true };
  if (cfg.celeryBrokerUrl) return new Redis(cfg.celeryBrokerUrl, common);
  return new Redis({
    host: cfg.redis.host,
    port: cfg.redis.port,
    db: cfg.redis.db,
    ...(cfg.redis.username ? { username: cfg.redis.username } : {}),
    ...(cfg.redis.password ? { password: cfg.redis.password } : {}),
    ...common,
  });
}

/**
 * A Celery protocol-2 message as kombu's Redis transport stores it (LPUSH onto the queue's
 * list). Like Dify's `document_indexing_task.delay(dataset_id, document_ids)` it carries ids
 * only, never storage keys: the worker resolves keys from the database.
 */
export function encodeTask(task: string, args: unknown[], queue = DATASET_QUEUE): string {
  const id = randomUUID();
  const body = Buffer.from(
    JSON.stringify([args, {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
  ).toString('base64');
  return JSON.stringify({
    body,
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {
      lang: 'py',
      task,
      id,
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: id,
      parent_id: null,
      argsrepr: JSON.stringify(args),
      kwargsrepr: '{}',
      origin: `gen${process.pid}@${os.hostname()}`,
      ignore_result: false,
    },
    properties: {
      correlation_id: id,
      reply_to: randomUUID(),
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: queue },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  });
}

export function decodeTask(raw: string): TaskMessage {
  const msg = JSON.parse(raw) as {
    body: string;
    headers: { task: string; id: string };
  };
  const [args, kwargs] = JSON.parse(Buffer.from(msg.body, 'base64').toString('utf8')) as [
    unknown[],
    Record<string, unknown>,
  ];
  return { id: msg.headers.id, task: msg.headers.task, args, kwargs };
}

/** `task.delay(*args)`. */
export async function delay(
  redis: Redis,
  task: string,
  args: unknown[],
  queue = DATASET_QUEUE,
): Promise<void> {
  await redis.lpush(queue, encodeTask(task, args, queue));
}
