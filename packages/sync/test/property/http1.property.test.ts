import net from 'node:net';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Pool } from 'undici';
import { Http1Pool } from '../../src/http1.js';

// Our HTTP/1.1 client stays (docs/adr/0005: undici costs 8–30% more CPU per request); for any
// answer a server may write (Content-Length or chunked, split anywhere by TCP, Connection:
// close, HEAD, bodiless statuses) it must read what undici reads, on keep-alive sockets.
interface Answer {
  status: number;
  body: Buffer;
  chunked: boolean;
  chunks: number[];
  close: boolean;
  tag: string;
  splits: number[];
  head: boolean;
}

const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.constantFrom(200, 201, 204, 206, 304, 403, 404, 500, 503),
  body: fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
  chunked: fc.boolean(),
  chunks: fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 6 }),
  close: fc.boolean(),
  tag: fc.stringMatching(/^[!-~]{1,20}$/),
  splits: fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 5 }),
  head: fc.boolean(),
});

function bodiless(a: Answer): boolean {
  return a.head || a.status === 204 || a.status === 304;
}

function wire(a: Answer): Buffer {
  const noBody = a.status === 204 || a.status === 304;
  let head = `HTTP/1.1 ${a.status} X\r\nx-test: ${a.tag}\r\n`;
  if (a.close) head += 'Connection: close\r\n';
  if (noBody) return Buffer.from(`${head}\r\n`, 'latin1');
  if (!a.chunked) {
    head += `Content-Length: ${a.body.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), a.head ? Buffer.alloc(0) : a.body]);
  }
  head += 'Transfer-Encoding: chunked\r\n\r\n';
  if (a.head) return Buffer.from(head, 'latin1');
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  let at = 0;
  for (const n of [...a.chunks, a.body.length]) {
    const len = Math.min(n, a.body.length - at);
    if (len <= 0) break;
    parts.push(
      Buffer.from(`${len.toString(16)}\r\n`),
      a.body.subarray(at, at + len),
      Buffer.from('\r\n'),
    );
    at += len;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A server that answers the n-th request with script[n], written in fragments. */
async function serve(script: Answer[]): Promise<{ port: number; close: () => Promise<void> }> {
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let pending = '';
    s.on('data', async (d) => {
      pending += d.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        const a = script[next++]!;
        const bytes = wire(a);
        let at = 0;
        for (const n of [...a.splits, bytes.length]) {
          if (at >= bytes.length) break;
          s.write(bytes.subarray(at, at + n));
          at += n;
          await new Promise((r) => setImmediate(r));
        }
        if (a.close) {
          s.end();
          return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

type Seen = [number, string, string];

describe('Http1Pool = undici on any response framing', () => {
  it('reads the same status, header and body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(answer, { minLength: 1, maxLength: 4 }), async (script) => {
        const a = await serve(script);
        const ours = new Http1Pool('127.0.0.1', a.port, 1, 5000);
        const got: Seen[] = [];
        try {
          for (const s of script) {
            const r = await ours.request(s.head ? 'HEAD' : 'GET', '/k', { host: 'h' }, undefined);
            got.push([r.status, r.headers['x-test'] ?? '', r.body.toString('hex')]);
          }
        } finally {
          ours.destroy();
          await a.close();
        }
        const b = await serve(script);
        const pool = new Pool(`http://127.0.0.1:${b.port}`, { connections: 1, pipelining: 1 });
        const want: Seen[] = [];
        try {
          for (const s of script) {
            const r = await pool.request({ method: s.head ? 'HEAD' : 'GET', path: '/k' });
            const body = Buffer.from(await r.body.arrayBuffer());
            want.push([r.statusCode, String(r.headers['x-test'] ?? ''), body.toString('hex')]);
          }
        } finally {
          await pool.destroy();
          await b.close();
        }
        expect(got).toEqual(want);
        for (const [i, s] of script.entries())
          expect(got[i]![2]).toBe(bodiless(s) ? '' : s.body.toString('hex'));
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
