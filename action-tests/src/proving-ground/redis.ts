import net from 'node:net';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { run, stopProcess, waitFor } from './process.js';

export interface Redis {
  url: string;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(2000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function stopRedis(dir: string): Promise<void> {
  try {
    const pid = Number((await readFile(path.join(dir, 'redis.pid'), 'utf8')).trim());
    if (pid > 0) await stopProcess(pid, 'redis-server');
  } catch {
    // not running
  }
}

/** Starts redis-server on 127.0.0.1 without persistence. */
export async function startRedis(o: { dir: string; port: number }): Promise<Redis> {
  await mkdir(o.dir, { recursive: true });
  await run('redis-server', [
    '--bind',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'yes',
    '--pidfile',
    path.join(o.dir, 'redis.pid'),
    '--dir',
    o.dir,
    '--logfile',
    path.join(o.dir, 'redis.log'),
  ]);
  await waitFor('Redis', () => ping(o.port), { timeoutMs: 20_000 });
  return { url: `redis://127.0.0.1:${o.port}/0`, stop: () => stopRedis(o.dir) };
}
