import type { Logger } from '@x/pubsub-core';
import { type Request, type Response, Router } from 'express';
import type { ListenHandle, RunEvents } from './run-events.js';
import { type ConnectionCounters, SseConnection } from './sse-connection.js';
import { parseEventsRequest } from './sse-request.js';

const TERMINAL: readonly unknown[] = ['completed', 'failed', 'aborted'];

export interface SseRouterOptions {
  events: RunEvents;
  /** Workspace ACL: false answers 404 (another workspace's run does not exist for you). */
  authorize: (req: Request, runId: string) => boolean | Promise<boolean>;
  /** The run as the `snapshot` frame's `run`; undefined answers 404. */
  snapshot: (runId: string) => Promise<object | undefined>;
  /** Whether the snapshot's run is finished. Default: `run.status` is completed, failed or aborted. */
  isFinished?: (run: object) => boolean;
  /** Heartbeat comment interval, ms. Default 5,000: proxies close streams idle for long. */
  heartbeatMs?: number;
  /** The `retry:` reconnect hint sent first, ms. Default 2,000. */
  retryMs?: number;
  /** Unsent bytes one client may hold before it is disconnected. Default 1 MiB. */
  maxBufferedBytes?: number;
  /**
   * A finished run whose `done` is not in the history yet (status written, event on its
   * way) is streamed live this long before a `done` built from the snapshot closes it. Default 10,000.
   */
  finishedGraceMs?: number;
  logger?: Logger;
}

export interface SseRouterMetrics extends ConnectionCounters {
  connections: number;
  connectionsTotal: number;
  resumesRecovered: number;
  resumesNotRecovered: number;
  rejected: number;
  heartbeats: number;
}

export interface SseRouter extends Router {
  /** Ends every stream with a `retry:` hint (clients reconnect elsewhere) and refuses new ones (503). */
  shutdown(opts?: { retryMs?: number; timeoutMs?: number }): Promise<void>;
  /** `shutdown()` with defaults. */
  close(): Promise<void>;
  metrics(): SseRouterMetrics;
}

/**
 * `GET /runs/:runId/events`: snapshot, replay after Last-Event-ID, then live events.
 *
 * @example
 * app.use('/api/v1', createSseRouter({ events, authorize: (req, id) => acl(req, id),
 *   snapshot: (id) => store.getRunById(id) }));
 */
export function createSseRouter(opts: SseRouterOptions): SseRouter {
  const { events, authorize, snapshot, logger } = opts;
  const isFinished =
    opts.isFinished ?? ((run: object) => TERMINAL.includes((run as { status?: unknown }).status));
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const retryMs = opts.retryMs ?? 2_000;
  const maxBufferedBytes = opts.maxBufferedBytes ?? 1024 * 1024;
  const finishedGraceMs = opts.finishedGraceMs ?? 10_000;
  const counters: SseRouterMetrics = {
    connections: 0,
    connectionsTotal: 0,
    resumesRecovered: 0,
    resumesNotRecovered: 0,
    rejected: 0,
    heartbeats: 0,
    eventsDelivered: 0,
    slowClientDisconnects: 0,
    peakBufferedBytes: 0,
  };
  const open = new Set<SseConnection>();
  let ticker: NodeJS.Timeout | undefined;
  let shuttingDown = false;

  const fail = (res: Response, status: number, code: string, message: string, details?: object) => {
    counters.rejected++;
    res.status(status).json({ error: { code, message, ...(details ? { details } : {}) } });
  };
  // One timer for every connection: an idle stream costs no timer of its own.
  const track = (conn: SseConnection) => {
    open.add(conn);
    ticker ??= setInterval(() => {
      for (const c of open) c.comment('hb');
      counters.heartbeats++;
    }, heartbeatMs);
  };
  const untrack = (conn: SseConnection) => {
    if (!open.delete(conn)) return;
    counters.connections--;
    if (open.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };

  const router = Router() as SseRouter;
  router.get('/runs/:runId/events', async (req, res) => {
    const parsed = parseEventsRequest(req);
    if (!parsed.ok) return fail(res, 400, 'invalid_input', parsed.message, { field: parsed.field });
    if (shuttingDown) return fail(res, 503, 'unavailable', 'the server is shutting down; retry');
    const { runId, lastEventId } = parsed;
    if (!(await authorize(req, runId)))
      return fail(res, 404, 'not_found', `run ${runId} not found`);

    const conn = new SseConnection(res, maxBufferedBytes, counters);
    let handle: ListenHandle | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    let gone = false;
    res.on('close', () => {
      gone = true;
      conn.ended = true;
      clearTimeout(graceTimer);
      handle?.close();
      untrack(conn);
    });
    handle = await events.listen(runId, lastEventId, (event) => conn.send(event), {
      onEnd: (reason) => {
        if (reason !== 'done')
          logger?.info({ runId, reason }, 'sse-relay: stream ended; client will resume');
        conn.end();
      },
    });
    // Subscribed before reading the snapshot, so nothing falls between the two.
    const run = gone ? undefined : await snapshot(runId);
    if (gone) return handle.close();
    if (!run) {
      handle.close();
      return fail(res, 404, 'not_found', `run ${runId} not found`);
    }

    conn.open(retryMs);
    counters.connections++;
    counters.connectionsTotal++;
    track(conn);
    const resumed = lastEventId !== null;
    if (resumed) counters[handle.recovered ? 'resumesRecovered' : 'resumesNotRecovered']++;
    conn.sendData({
      type: 'snapshot',
      runId,
      run,
      ...(resumed ? { recovered: handle.recovered } : {}),
    });
    for (const event of handle.replay) conn.send(event);
    if (conn.ended) return;

    if (isFinished(run)) {
      const last = await events.lastEvent(runId);
      if (conn.ended) return;
      if (last?.type === 'done') return conn.send(last);
      if (!last) return finishFromSnapshot(conn, runId, run);
      // The status is final but `done` is still on its way: stream until it arrives.
      graceTimer = setTimeout(() => finishFromSnapshot(conn, runId, run), finishedGraceMs);
    }
    handle.start();
  });

  router.metrics = () => ({ ...counters });
  router.shutdown = async ({ retryMs: hint = 1_000, timeoutMs = 5_000 } = {}) => {
    shuttingDown = true;
    const closing = [...open].map((conn) => conn.closed());
    for (const conn of open) conn.end(`retry: ${hint}\n\n`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closing),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(ticker);
    ticker = undefined;
  };
  router.close = () => router.shutdown();
  return router;
}

/** The history expired (or never existed): a `done` from the snapshot, without an id. */
function finishFromSnapshot(conn: SseConnection, runId: string, run: object): void {
  const r = run as Record<string, unknown>;
  const pick = (key: string) => (r[key] === undefined ? {} : { [key]: r[key] });
  conn.sendData({
    type: 'done',
    runId,
    ...pick('status'),
    ...pick('passed'),
    ...pick('failed'),
    ...pick('total'),
    ...pick('durationMs'),
  });
  conn.end();
}
