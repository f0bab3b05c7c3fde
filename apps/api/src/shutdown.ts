import type { Server } from 'node:http';
import type { Logger } from 'pino';

export interface ShutdownOptions {
  server: Server;
  /** Ends SSE streams with a `retry:` hint and refuses new ones (the @x/sse-relay router). */
  sse: { shutdown(opts?: { retryMs?: number; timeoutMs?: number }): Promise<void> };
  logger: Logger;
  /** Embedded: lets in-process shards finish (or requeue) before the store closes. */
  drain: (deadlineMs: number) => Promise<void>;
  close: () => Promise<void>;
  /** Called first, so /readyz turns 503 and load balancers stop sending traffic. */
  onStopAccepting: () => void;
  /** Total budget for in-flight requests and shards. Default 10 s (under Kubernetes' 30 s grace). */
  deadlineMs?: number;
  /** `retry:` hint sent on SSE streams so browsers reconnect (elsewhere) quickly. Default 1000. */
  sseRetryMs?: number;
}

/**
 * Graceful shutdown: stop accepting, end SSE streams with a retry hint, let in-flight
 * requests finish (bounded), drain the in-process worker, then close every connection.
 * Returns the function to call on SIGTERM/SIGINT; a second call is a no-op.
 */
export function gracefulShutdown(opts: ShutdownOptions): (reason: string) => Promise<void> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  let running: Promise<void> | undefined;
  return (reason) => {
    running ??= (async () => {
      const started = Date.now();
      opts.logger.info({ reason }, 'shutting down');
      opts.onStopAccepting();
      const closed = new Promise<void>((resolve) => opts.server.close(() => resolve()));
      const sseEnded = opts.sse.shutdown({ retryMs: opts.sseRetryMs ?? 1000, timeoutMs: 2_000 });
      opts.server.closeIdleConnections();
      const timer = setTimeout(() => opts.server.closeAllConnections(), deadlineMs);
      await Promise.all([closed, sseEnded, opts.drain(deadlineMs)]);
      clearTimeout(timer);
      await opts.close();
      opts.logger.info({ ms: Date.now() - started }, 'shut down');
    })();
    return running;
  };
}
