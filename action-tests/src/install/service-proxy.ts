import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeApiServer } from '../kube/index.js';

interface PodLike {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * What a Kubernetes Service gives Dify's clients: one stable address in front of whichever
 * ready pod matches the selector, StatefulSet pod or Deployment pod alike.
 */
export async function startServiceProxy(o: {
  server: FakeApiServer;
  namespace: string;
  selector: Record<string, string>;
  ports: Map<string, number>;
}): Promise<{ url: string; close(): Promise<void> }> {
  const pick = (): number | undefined => {
    const pods = o.server.api.list('pods', o.namespace).items as PodLike[];
    const ready = pods.filter(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        Object.entries(o.selector).every(([k, v]) => p.metadata?.labels?.[k] === v) &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
        o.ports.has(p.metadata?.name ?? ''),
    );
    return ready.length ? o.ports.get(ready[ready.length - 1]!.metadata!.name!) : undefined;
  };
  const proxy = http.createServer((req, res) => {
    const port = pick();
    if (port === undefined) {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end('{"message":"no ready endpoints"}');
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        // A body cut short upstream must reach the client cut short, as through a real Service.
        up.on('aborted', () => res.destroy());
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}
