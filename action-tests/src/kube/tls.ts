/**
 * A throwaway self-signed certificate for 127.0.0.1 (openssl CLI), and a listener that speaks
 * HTTPS and plain HTTP on the same port. kubectl (client-go) never sends a bearer token over plain
 * HTTP, so the kubeconfig points at https with insecure-skip-tls-verify.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { RequestListener, Server as HttpServer } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as NetServer, Socket } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

let cached: Promise<{ key: string; cert: string }> | undefined;

export function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  cached ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fake-kube-tls-'));
    try {
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]);
      return {
        key: await readFile(join(dir, 'key.pem'), 'utf8'),
        cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return cached;
}

export interface DualServer {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0; a first byte 0x16 (TLS handshake) goes to HTTPS, anything else to HTTP. */
export async function listenDual(handler: RequestListener): Promise<DualServer> {
  const { key, cert } = await selfSignedCertificate();
  const http: HttpServer = createHttpServer(handler);
  const https = createHttpsServer({ key, cert }, handler);
  const sockets = new Set<Socket>();
  const net: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? https : http).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (net.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        net.close(() => resolve());
        http.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
}
