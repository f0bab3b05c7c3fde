import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsHandler } from './metrics-endpoint.js';

export interface MetricsListener {
  /** `http://host:port` actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `GET /metrics` on its own port (METRICS_PORT), so operators can keep it off the network the
 * api faces (a load balancer or an ingress forwards only the api's port). Anything else is 404.
 */
export async function startMetricsListener(opts: {
  host: string;
  port: number;
  handler: MetricsHandler;
}): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method === 'GET' && path === '/metrics') return opts.handler(req, res);
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such endpoint' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
