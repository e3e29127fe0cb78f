import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Http1Pool } from '../src/http1.js';

/**
 * A loopback HTTP/1.1 server written on raw sockets, so each test controls the bytes and their
 * split into TCP segments. `onRequest` gets the socket and the request head once it is read.
 */
async function rawServer(
  onRequest: (socket: net.Socket, head: string, requestNo: number) => void,
): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length && !head.startsWith('PUT /early')) return;
        buf = buf.slice(end + 4 + (head.startsWith('PUT /early') ? 0 : length));
        onRequest(socket, head, ++requests);
        if (head.startsWith('PUT /early')) {
          buf = '';
          return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const OK = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** Writes `text` a few bytes at a time, each in its own segment. */
async function trickle(socket: net.Socket, text: string, step = 3): Promise<void> {
  for (let i = 0; i < text.length; i += step) {
    socket.write(text.slice(i, i + step));
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('Http1Pool against a loopback server', () => {
  let close: (() => Promise<void>) | undefined;
  let pool: Http1Pool | undefined;
  afterEach(async () => {
    pool?.destroy();
    await close?.();
  });

  async function start(handler: Parameters<typeof rawServer>[0], timeoutMs = 5000) {
    const s = await rawServer(handler);
    close = s.close;
    pool = new Http1Pool('127.0.0.1', s.port, 4, timeoutMs);
    return { s, pool };
  }

  it('keeps the connection alive across requests with Content-Length bodies', async () => {
    const { s, pool } = await start((socket, head) => socket.write(OK(head.split(' ')[1]!)));
    for (const p of ['/a', '/b', '/c']) {
      const r = await pool.request('GET', p, { host: 'h' }, undefined);
      expect([r.status, r.body.toString()]).toEqual([200, p]);
    }
    expect(s.connections()).toBe(1);
  });

  it('reads a chunked body split across segments, with a trailer', async () => {
    const { pool } = await start((socket) => {
      void trickle(
        socket,
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nworld, done\r\n0\r\nx-trailer: t\r\n\r\n',
      );
    });
    const r = await pool.request('GET', '/c', { host: 'h' }, undefined);
    expect(r.body.toString()).toBe('hello world, done');
    // The connection is reusable after the terminal chunk.
    const again = await pool.request('GET', '/c', { host: 'h' }, undefined);
    expect(again.body.toString()).toBe('hello world, done');
  });

  it('opens a new connection after Connection: close', async () => {
    const { s, pool } = await start((socket, head) => {
      socket.end(OK(head.split(' ')[1]!, 'Connection: close\r\n'));
    });
    expect((await pool.request('GET', '/1', { host: 'h' }, undefined)).body.toString()).toBe('/1');
    expect((await pool.request('GET', '/2', { host: 'h' }, undefined)).body.toString()).toBe('/2');
    expect(s.connections()).toBe(2);
  });

  it('takes an early answer (an error before the body is read), once the body is sent', async () => {
    let received = 0;
    const { pool } = await start((socket, head) => {
      expect(head).toMatch(/^PUT \/early/);
      socket.write(
        'HTTP/1.1 400 Bad Request\r\nContent-Length: 24\r\n\r\n<Error>BadDigest</Error>',
      );
      socket.on('data', (d: Buffer) => (received += d.length));
    });
    const body = Buffer.alloc(4 * 1024 * 1024, 1);
    const r = await pool.request(
      'PUT',
      '/early',
      { host: 'h', 'content-length': String(body.length) },
      body,
    );
    expect(r.status).toBe(400);
    expect(r.body.toString()).toBe('<Error>BadDigest</Error>');
    // Resolved only after the whole body was handed over (the caller may reuse the buffer).
    await new Promise((res) => setTimeout(res, 50));
    expect(received).toBeGreaterThan(0);
  });

  it('drops an idle connection the server half-closed, and uses a fresh one', async () => {
    const { s, pool } = await start((socket, head, n) => {
      socket.write(OK(head.split(' ')[1]!));
      if (n === 1) socket.end(); // FIN after the first answer: the server is done with it
    });
    expect((await pool.request('GET', '/1', { host: 'h' }, undefined)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect((await pool.request('GET', '/2', { host: 'h' }, undefined)).body.toString()).toBe('/2');
    expect(s.connections()).toBe(2);
  });

  it('fails a request whose connection closes before the answer with a retryable reset', async () => {
    const { pool } = await start((socket) => socket.end());
    await expect(pool.request('GET', '/x', { host: 'h' }, undefined)).rejects.toMatchObject({
      code: 'ECONNRESET',
      message: 'socket hang up',
    });
  });

  it('reads no body for HEAD and 204, whatever Content-Length says', async () => {
    const { pool } = await start((socket, head) => {
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    expect((await pool.request('HEAD', '/h', { host: 'h' }, undefined)).body.length).toBe(0);
    expect((await pool.request('DELETE', '/d', { host: 'h' }, undefined)).status).toBe(204);
  });

  it('refuses a body delimited by the close of the connection', async () => {
    const { pool } = await start((socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nraw'));
    await expect(pool.request('GET', '/r', { host: 'h' }, undefined)).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
  });

  it('times out a server that never answers', async () => {
    const { pool } = await start(() => undefined, 200);
    await expect(pool.request('GET', '/slow', { host: 'h' }, undefined)).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
  });
});
