import { type SideListener, startSideListener } from '@x/app-kit';
import type { Registry } from 'prom-client';

export type MetricsServer = SideListener;

/**
 * `GET /metrics` (Prometheus text) and `GET /healthz` on METRICS_PORT. Health is liveness
 * plus the worker's own view (`healthy()`): 503 once shutdown began, so an orchestrator
 * stops routing to it and does not restart it mid-drain.
 */
export function startMetricsServer(opts: {
  registry: Registry;
  host: string;
  port: number;
  healthy: () => { ok: boolean; [k: string]: unknown };
}): Promise<MetricsServer> {
  return startSideListener({
    host: opts.host,
    port: opts.port,
    routes: {
      '/metrics': (_req, res) => {
        opts.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': opts.registry.contentType });
            res.end(text);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
          },
        );
      },
      '/healthz': (_req, res) => {
        const health = opts.healthy();
        res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(health));
      },
    },
  });
}
