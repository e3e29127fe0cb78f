import os from 'node:os';
import type { DifyContext } from '../context.js';
import { log } from '../log.js';
import { DATASET_QUEUE, TASKS, decodeTask } from '../queue.js';
import { cleanDocumentTask } from './clean.js';
import { documentIndexingTask } from './indexing.js';

/**
 * The celery worker (`-Q dataset`): BRPOP on the queue list with a short timeout so a stop
 * request is seen within a second; one task at a time.
 */
export class Worker {
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly ctx: DifyContext) {}

  start(): void {
    log('INFO', 'worker.py:176', `celery@${os.hostname()} ready.`);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const conn = this.ctx.broker.duplicate();
    try {
      while (!this.stopping) {
        let popped: [string, string] | null;
        try {
          popped = await conn.brpop(DATASET_QUEUE, 1);
        } catch (err) {
          if (this.stopping) break;
          log('ERROR', 'consumer.py:391', `consumer: Cannot connect to redis: ${String(err)}`);
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        if (!popped) continue;
        await this.handle(popped[1]);
      }
    } finally {
      conn.disconnect();
    }
  }

  private async handle(raw: string): Promise<void> {
    let msg;
    try {
      msg = decodeTask(raw);
    } catch (err) {
      log('ERROR', 'consumer.py:658', `Received invalid message: ${String(err)}`);
      return;
    }
    const started = Date.now();
    log('INFO', 'strategy.py:161', `Task ${msg.task}[${msg.id}] received`);
    try {
      if (msg.task === TASKS.documentIndexing) {
        const [datasetId, documentIds] = msg.args as [string, string[]];
        await documentIndexingTask(this.ctx, datasetId, documentIds);
      } else if (msg.task === TASKS.cleanDocument) {
        const [documentId, datasetId, docForm, fileId] = msg.args as [
          string,
          string,
          string | null,
          string | null,
        ];
        await cleanDocumentTask(this.ctx, documentId, datasetId, docForm, fileId);
      } else {
        log('ERROR', 'consumer.py:658', `Received unregistered task of type '${msg.task}'.`);
        return;
      }
      log(
        'INFO',
        'trace.py:128',
        `Task ${msg.task}[${msg.id}] succeeded in ${(Date.now() - started) / 1000}s: None`,
      );
    } catch (err) {
      log('ERROR', 'trace.py:267', `Task ${msg.task}[${msg.id}] raised unexpected: ${String(err)}`);
    }
  }

  /** Finishes the task in hand, then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }
}
