import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type SideRoute = (req: IncomingMessage, res: ServerResponse) => void;

export interface SideListener {
  /** `http://host:port` actually bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A small HTTP listener beside an app's main port, for operators only (`/metrics`, a
 * worker's `/healthz`): `GET` of a listed path runs its route, anything else is a JSON 404.
 * Keeping it on its own port lets a load balancer or ingress forward only the app's port.
 */
export async function startSideListener(opts: {
  host: string;
  port: number;
  routes: Readonly<Record<string, SideRoute>>;
}): Promise<SideListener> {
  const server: Server = createServer((req, res) => {
    const route = opts.routes[(req.url ?? '/').split('?', 1)[0] ?? '/'];
    if (req.method === 'GET' && route) return route(req, res);
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
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
