import net from 'node:net';
import tls from 'node:tls';

/**
 * A minimal HTTP/1.1 client over keep-alive TCP or TLS sockets (the in-cluster RGW/MinIO case,
 * with or without a private CA). node:http costs ~100 µs of CPU per request in ClientRequest,
 * IncomingMessage and stream plumbing; with one small file per request that is a sixth of the
 * client's budget. Requests with a known body only; responses are read whole (Content-Length or
 * chunked). Streaming bodies and downloads stay on node:http(s).
 */
export interface Http1Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface Pending {
  head: string;
  body: Buffer | undefined;
  isHead: boolean;
  resolve: (r: Http1Response) => void;
  reject: (e: Error) => void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

class Conn {
  private buf: Buffer | undefined;
  private current: Pending | undefined;
  private res:
    | {
        status: number;
        headers: Record<string, string>;
        remaining: number;
        chunked: boolean;
        chunks: Buffer[];
        close: boolean;
      }
    | undefined;
  busy = false;
  dead = false;
  /** The request is fully handed to the kernel (its body buffer is free again). */
  private written = true;
  /** A response that arrived before the request was fully written (an early error answer). */
  private parked: { r: NonNullable<Conn['res']>; body: Buffer } | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly pool: Http1Pool,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () =>
      this.fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
    );
    socket.on('timeout', () => {
      socket.destroy(
        Object.assign(new Error(`no response within ${pool.timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      );
    });
  }

  send(p: Pending): void {
    this.busy = true;
    this.current = p;
    this.res = undefined;
    this.buf = undefined;
    this.socket.setTimeout(this.pool.timeoutMs);
    this.written = false;
    this.socket.cork();
    const done = (): void => {
      this.written = true;
      if (this.parked) this.finish(this.parked.r, this.parked.body);
    };
    if (p.body && p.body.length > 0) {
      this.socket.write(p.head, 'latin1');
      this.socket.write(p.body, done);
    } else this.socket.write(p.head, 'latin1', done);
    this.socket.uncork();
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = true;
    const p = this.current;
    this.current = undefined;
    this.pool.drop(this);
    this.socket.destroy();
    p?.reject(e);
  }

  private onData(d: Buffer): void {
    if (!this.current) {
      // Data with no request outstanding: the server is closing or confused; drop the socket.
      this.fail(new Error('unexpected data'));
      return;
    }
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    if (!this.res) {
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (this.buf.length > 64 * 1024) this.fail(new Error('response header too large'));
        return;
      }
      const lines = this.buf.toString('latin1', 0, end).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!m) {
        this.fail(Object.assign(new Error(`bad status line: ${lines[0]}`), { code: 'ECONNRESET' }));
        return;
      }
      const headers: Record<string, string> = {};
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      const status = Number(m[1]);
      const noBody =
        this.current.isHead || status === 204 || status === 304 || (status >= 100 && status < 200);
      const chunked = !noBody && /chunked/i.test(headers['transfer-encoding'] ?? '');
      const len = noBody ? 0 : chunked ? 0 : Number(headers['content-length'] ?? 'NaN');
      if (!chunked && !Number.isFinite(len)) {
        // Body delimited by close: not worth supporting on the fast path.
        this.fail(Object.assign(new Error('response without length'), { code: 'ECONNRESET' }));
        return;
      }
      this.res = {
        status,
        headers,
        remaining: len,
        chunked,
        chunks: [],
        close: /close/i.test(headers.connection ?? ''),
      };
      this.buf = this.buf.subarray(end + 4);
    }
    const r = this.res;
    if (!r.chunked) {
      if (this.buf.length < r.remaining) return;
      const body = this.buf.subarray(0, r.remaining);
      this.finish(r, body);
      return;
    }
    // chunked: size CRLF data CRLF … 0 CRLF CRLF
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const size = parseInt(this.buf.toString('latin1', 0, eol), 16);
      if (Number.isNaN(size)) {
        this.fail(new Error('bad chunk'));
        return;
      }
      if (size === 0) {
        // last-chunk, optional trailer fields, then an empty line (RFC 9112 §7.1.2).
        if (this.buf.indexOf(CRLFCRLF, eol) < 0) return;
        this.finish(r, Buffer.concat(r.chunks));
        return;
      }
      if (this.buf.length < eol + 2 + size + 2) return;
      r.chunks.push(this.buf.subarray(eol + 2, eol + 2 + size));
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }

  private finish(r: NonNullable<Conn['res']>, body: Buffer): void {
    if (!this.written) {
      // Resolve only once the body is handed to the kernel: the caller may reuse its buffer
      // after that, and the next request must not start before this body has gone out.
      this.parked = { r, body };
      return;
    }
    this.parked = undefined;
    const p = this.current!;
    this.current = undefined;
    this.res = undefined;
    this.buf = undefined;
    this.busy = false;
    this.socket.setTimeout(0);
    if (r.close) {
      this.dead = true;
      this.pool.drop(this);
      this.socket.destroy();
    } else this.pool.release(this);
    p.resolve({ status: r.status, headers: r.headers, body });
  }
}

export class Http1Pool {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly queue: Pending[] = [];
  private closed = false;
  /** The last TLS session the server gave: new connections resume it (no full handshake). */
  private session: Buffer | undefined;
  /** Connections opened, and how many of the TLS ones resumed a session. */
  readonly stats = { connects: 0, resumed: 0 };

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxSockets: number,
    readonly timeoutMs: number,
    /** TLS with certificate verification (always on); `ca` replaces the public roots when given. */
    private readonly tlsOptions?: { ca?: string; servername: string },
  ) {}

  private connect(): net.Socket {
    this.stats.connects++;
    if (!this.tlsOptions) return net.connect({ host: this.host, port: this.port });
    const { ca, servername } = this.tlsOptions;
    const name = servername.replace(/^\[|\]$/g, '');
    const socket = tls.connect({
      host: this.host,
      port: this.port,
      // SNI takes host names only; the certificate is checked against `name` either way.
      ...(net.isIP(name) ? {} : { servername: name }),
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
      ...(ca ? { ca } : {}),
      ...(this.session ? { session: this.session } : {}),
    });
    socket.on('session', (s: Buffer) => (this.session = s));
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) this.stats.resumed++;
    });
    return socket;
  }

  /** Closes the idle keep-alive connections (the next request opens a new one). */
  closeIdle(): void {
    for (const c of this.idle.splice(0)) {
      this.all.delete(c);
      c.dead = true;
      c.socket.destroy();
    }
  }

  request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<Http1Response> {
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    head += '\r\n';
    return new Promise((resolve, reject) => {
      this.dispatch({ head, body, isHead: method === 'HEAD', resolve, reject });
    });
  }

  private dispatch(p: Pending): void {
    if (this.closed) {
      p.reject(new Error('transport closed'));
      return;
    }
    const c = this.idle.pop();
    if (c) {
      c.send(p);
      return;
    }
    if (this.all.size < this.maxSockets) {
      const socket = this.connect();
      const conn = new Conn(socket, this);
      this.all.add(conn);
      conn.busy = true;
      // Writes before 'connect' ('secureConnect') are buffered by the socket.
      conn.send(p);
      return;
    }
    this.queue.push(p);
  }

  release(c: Conn): void {
    const next = this.queue.shift();
    if (next) c.send(next);
    else this.idle.push(c);
  }

  drop(c: Conn): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A queued request can use a fresh connection now.
    const next = this.queue.shift();
    if (next) this.dispatch(next);
  }

  destroy(): void {
    this.closed = true;
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
    for (const p of this.queue.splice(0)) p.reject(new Error('transport closed'));
  }
}
