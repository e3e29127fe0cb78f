/**
 * The Dify 1.3.0 emulator process: `main.ts api` (gunicorn + Flask) or `main.ts worker`
 * (celery -Q dataset). Configured only by environment variables and its working directory,
 * so the pod simulator can run it as a container's process.
 */
import os from 'node:os';
import { createApiServer, listen } from './api/server.js';
import { loadConfig, type DifyConfig } from './config.js';
import type { DifyContext } from './context.js';
import { createDbPool } from './db.js';
import { PythonError, log, printTraceback } from './log.js';
import { createBrokerRedis } from './queue.js';
import { ensureSchema } from './schema.js';
import { createStorage, type Storage } from './storage/index.js';
import { Worker } from './worker/worker.js';

// Like the image's entrypoint.sh: `MODE=worker` selects the worker, anything else the api.
const role = process.argv[2] ?? (process.env.MODE === 'worker' ? 'worker' : 'api');
if (role !== 'api' && role !== 'worker') {
  process.stderr.write('usage: main.ts [api|worker]  (default: from MODE)\n');
  process.exit(2);
}

function gunicorn(level: string, msg: string): void {
  const d = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' +0000');
  process.stderr.write(`[${d}] [${process.pid}] [${level}] ${msg}\n`);
}

function crash(frames: string[], err: unknown): never {
  printTraceback(frames, err);
  process.exit(1);
}

async function upgradeDb(ctx: DifyContext): Promise<void> {
  // `flask upgrade-db`: a Redis lock so concurrent starts migrate once.
  const locked = await ctx.broker.set('db_upgrade_lock', '1', 'EX', 60, 'NX');
  if (!locked) {
    log('INFO', 'commands.py:621', 'Database migration skipped');
    return;
  }
  try {
    log('INFO', 'commands.py:611', 'Preparing database migration...');
    await ensureSchema(ctx.db);
    log('INFO', 'commands.py:617', 'Database migration successful!');
  } finally {
    await ctx.broker.del('db_upgrade_lock');
  }
}

async function main(): Promise<void> {
  let config: DifyConfig;
  try {
    config = loadConfig(process.env, process.cwd());
  } catch (err) {
    crash(
      [
        '/app/api/app.py", line 26, in <module>',
        '/app/api/configs/app_config.py", line 66, in __init__',
      ],
      err,
    );
  }
  let storage: Storage;
  try {
    storage = await createStorage(config);
  } catch (err) {
    crash(
      [
        '/app/api/app_factory.py", line 33, in create_app',
        '/app/api/extensions/ext_storage.py", line 19, in init_app',
        config.storageType === 's3'
          ? '/app/api/extensions/storage/aws_s3_storage.py", line 39, in __init__'
          : '/app/api/extensions/storage/opendal_storage.py", line 35, in __init__',
      ],
      err,
    );
  }
  const db = createDbPool(config.db);
  const broker = createBrokerRedis(config);
  broker.on('error', () => undefined); // reported where a command fails
  const ctx: DifyContext = { config, db, storage, broker };

  const closeAll = async () => {
    storage.close();
    broker.disconnect();
    await db.end().catch(() => undefined);
  };

  if (role === 'api') {
    if (config.migrationEnabled) {
      try {
        await upgradeDb(ctx);
      } catch (err) {
        const e = err as { message?: string };
        crash(
          ['/app/api/commands.py", line 614, in upgrade_db'],
          new PythonError('sqlalchemy.exc.OperationalError', e.message ?? String(err)),
        );
      }
    }
    const server = createApiServer(ctx);
    let addr;
    try {
      addr = await listen(server, config.bindAddress, config.port);
    } catch (err) {
      gunicorn(
        'ERROR',
        `Connection in use: ('${config.bindAddress}', ${config.port}): ${String(err)}`,
      );
      process.exit(1);
    }
    gunicorn('INFO', 'Starting gunicorn 23.0.0');
    gunicorn('INFO', `Listening at: http://${addr.address}:${addr.port} (${process.pid})`);
    gunicorn('INFO', 'Using worker: gevent');
    gunicorn('INFO', `Booting worker with pid: ${process.pid}`);
    const stop = (signal: string) => {
      gunicorn('INFO', `Handling signal: ${signal.toLowerCase().replace('sig', '')}`);
      server.close();
      server.closeAllConnections();
      void closeAll().then(() => {
        gunicorn('INFO', 'Shutting down: Master');
        process.exit(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  } else {
    const worker = new Worker(ctx);
    process.stdout.write(
      ` \n -------------- celery@${os.hostname()} v5.4.0 (opalescent)\n--- ***** ----- \n` +
        `-- ******* ---- .> transport:   redis://${config.redis.host}:${config.redis.port}/${config.redis.db}\n` +
        `- *** --- * --- .> concurrency: 1 (gevent)\n -------------- [queues]\n                .> dataset          exchange=dataset(direct) key=dataset\n\n`,
    );
    worker.start();
    const stop = () => {
      log('INFO', 'worker.py:101', 'worker: Warm shutdown (MainProcess)');
      void worker
        .stop()
        .then(closeAll)
        .then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }
}

main().catch((err: unknown) => crash(['/app/api/app.py", line 1, in <module>'], err));
