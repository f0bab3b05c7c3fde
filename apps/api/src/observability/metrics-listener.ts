import { type SideListener, startSideListener } from '@x/app-kit';
import type { MetricsHandler } from './metrics-endpoint.js';

export type MetricsListener = SideListener;

/**
 * `GET /metrics` on its own port (METRICS_PORT), so operators can keep it off the network the
 * api faces (a load balancer or an ingress forwards only the api's port). Anything else is 404.
 */
export function startMetricsListener(opts: {
  host: string;
  port: number;
  handler: MetricsHandler;
}): Promise<MetricsListener> {
  return startSideListener({
    host: opts.host,
    port: opts.port,
    routes: { '/metrics': opts.handler },
  });
}
