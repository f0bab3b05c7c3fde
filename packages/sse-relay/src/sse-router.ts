import type { Logger } from '@x/kernel';
import { type Request, type Response, Router } from 'express';
import { endConnections } from './end-connections.js';
import { armGrace, armResume, finishFromSnapshot, sweepFinished } from './finish-stream.js';
import type { ListenHandle, RunEvents } from './run-events-api.js';
import { RunEventsError } from './run-events-error.js';
import { type ConnectionCounters, type ConnectionShared, SseConnection } from './sse-connection.js';
import { parseEventsRequest } from './sse-request.js';
import { type StreamCap, StreamSlots } from './stream-slots.js';

const TERMINAL: readonly unknown[] = ['completed', 'failed', 'aborted'];

export interface SseRouterOptions {
  events: RunEvents;
  /**
   * A check before the stream subscribes; false answers 404. Default: none. For a check that
   * needs no read (a token's scope): one that reads the run belongs in `snapshot`, which
   * reads it anyway, so an open costs one read instead of two.
   */
  authorize?: (req: Request, runId: string) => boolean | Promise<boolean>;
  /**
   * The run as the `snapshot` frame's `run`, as `req`'s caller may see it: undefined answers
   * 404 (no such run, or another workspace's, which does not exist for them). Read once the
   * stream has subscribed, so no event falls between the two. `req` is absent when the
   * router re-reads the status of runs it streams (`statusCheckMs`): their opens were checked.
   */
  snapshot: (runId: string, req?: Request) => Promise<object | undefined>;
  /** Whether the snapshot's run is finished. Default: `run.status` is completed, failed or aborted. */
  isFinished?: (run: object) => boolean;
  /**
   * Whether the snapshot's run can have had events. A resume from 0 of a run whose history
   * is gone (Redis lost it) answers `recovered: false` when it had. Default: `run.status`
   * is not `queued` (a run's events start once its first shard does).
   */
  hadEvents?: (run: object) => boolean;
  /** Heartbeat comment interval, ms. Default 5,000: proxies close streams idle for long. */
  heartbeatMs?: number;
  /** The `retry:` reconnect hint sent first, ms. Default 2,000. */
  retryMs?: number;
  /** Unsent bytes one client may hold before it is disconnected. Default 1 MiB. */
  maxBufferedBytes?: number;
  /**
   * A client whose unsent bytes have not drained for this long is disconnected (and resumes
   * with Last-Event-ID), checked every `heartbeatMs`. Default 30,000: a reader that stopped
   * reading must not hold its stream, its slot and its buffer until `maxBufferedBytes`.
   */
  stallTimeoutMs?: number;
  /**
   * Open streams this process serves at once; past it a new one answers 429 `rate_limited`
   * with `Retry-After`. Default 5,000: each costs a socket, a file descriptor and a share of
   * the fan-out.
   */
  maxStreams?: number;
  /**
   * Open streams one workspace may hold on this process (see `workspaceOf`); past it 429
   * `rate_limited`. Default 100: one token must not take the whole process.
   */
  maxStreamsPerWorkspace?: number;
  /** The workspace a request counts against (`maxStreamsPerWorkspace`); undefined: none. */
  workspaceOf?: (req: Request) => string | undefined;
  /** `Retry-After` of a 429, seconds. Default 5: a slot frees when any stream closes. */
  limitedRetryAfterSec?: number;
  /**
   * A finished run whose `done` is not in the history yet (status written, event on its
   * way) is streamed live this long before a `done` built from the snapshot closes it. Default 10,000.
   */
  finishedGraceMs?: number;
  /**
   * How often the status of every run with a live stream here is read again (one `snapshot`
   * per run): a finished run whose `done` never arrives gets `finishedGraceMs`, then a `done`
   * from the snapshot, so its streams always end. Default 60,000.
   */
  statusCheckMs?: number;
  logger?: Logger;
}

export interface SseRouterMetrics extends ConnectionCounters {
  connections: number;
  connectionsTotal: number;
  resumesRecovered: number;
  resumesNotRecovered: number;
  rejected: number;
  /** Refused with 429 by `maxStreams` or `maxStreamsPerWorkspace` (also counted in `rejected`). */
  rateLimited: number;
  heartbeats: number;
  /** Status checks of live streams' runs that failed (the snapshot threw); retried next time. */
  statusCheckErrors: number;
  /**
   * Opens answered with the snapshot and a `retry:` hint only, because the event log was
   * unavailable or the server was shutting down (never a non-200: EventSource would give up).
   */
  snapshotOnly: number;
}

export interface SseRouter extends Router {
  /**
   * Ends every stream with a `retry:` hint (clients reconnect elsewhere); a new one then gets
   * its snapshot and the same hint.
   */
  shutdown(opts?: { retryMs?: number; timeoutMs?: number }): Promise<void>;
  /** `shutdown()` with defaults. */
  close(): Promise<void>;
  metrics(): SseRouterMetrics;
}

/**
 * `GET /runs/:runId/events`: snapshot, replay after Last-Event-ID, then live events.
 *
 * @example
 * app.use('/api/v1', createSseRouter({ events,
 *   // One read is the run and the workspace check: another workspace's run answers 404.
 *   snapshot: (id, req) => (req ? store.getRun(workspaceOf(req), id) : store.getRunById(id)) }));
 */
export function createSseRouter(opts: SseRouterOptions): SseRouter {
  const { events, authorize, snapshot, logger } = opts;
  const isFinished =
    opts.isFinished ?? ((run: object) => TERMINAL.includes((run as { status?: unknown }).status));
  const hadEvents =
    opts.hadEvents ?? ((run: object) => (run as { status?: unknown }).status !== 'queued');
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const retryMs = opts.retryMs ?? 2_000;
  const maxBufferedBytes = opts.maxBufferedBytes ?? 1024 * 1024;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
  const finishedGraceMs = opts.finishedGraceMs ?? 10_000;
  const statusCheckMs = opts.statusCheckMs ?? 60_000;
  const slots = new StreamSlots(opts.maxStreams ?? 5_000, opts.maxStreamsPerWorkspace ?? 100);
  const limitedRetryAfterSec = opts.limitedRetryAfterSec ?? 5;
  for (const [name, value] of [
    ['maxStreams', slots.maxStreams],
    ['maxStreamsPerWorkspace', slots.maxPerWorkspace],
    ['limitedRetryAfterSec', limitedRetryAfterSec],
    ['stallTimeoutMs', stallTimeoutMs],
    ['statusCheckMs', statusCheckMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new RunEventsError(
        'invalid_option',
        `createSseRouter: ${name} must be a positive integer, got ${value}`,
      );
  }
  const counters: SseRouterMetrics = {
    connections: 0,
    connectionsTotal: 0,
    resumesRecovered: 0,
    resumesNotRecovered: 0,
    rejected: 0,
    rateLimited: 0,
    heartbeats: 0,
    statusCheckErrors: 0,
    snapshotOnly: 0,
    eventsDelivered: 0,
    slowClientDisconnects: 0,
    stalledClientDisconnects: 0,
    peakBufferedBytes: 0,
  };
  const open = new Set<SseConnection>();
  let ticker: NodeJS.Timeout | undefined;
  let shuttingDown = false;
  let shutdownRetryMs = retryMs;

  const fail = (res: Response, status: number, code: string, message: string, details?: object) => {
    counters.rejected++;
    res.status(status).json({ error: { code, message, ...(details ? { details } : {}) } });
  };
  const limited = (res: Response, cap: StreamCap) => {
    counters.rateLimited++;
    const limit = cap === 'process' ? slots.maxStreams : slots.maxPerWorkspace;
    const whose = cap === 'process' ? 'this server' : 'this workspace';
    res.set('Retry-After', String(limitedRetryAfterSec));
    fail(
      res,
      429,
      'rate_limited',
      `too many open event streams for ${whose} (${limit}); retry later`,
      {
        limit,
        scope: cap,
      },
    );
  };
  let lastStatusCheck = performance.now();
  let checking = false;
  const checkStatuses = (now: number) => {
    if (checking || now - lastStatusCheck < statusCheckMs) return;
    checking = true;
    lastStatusCheck = now;
    sweepFinished(open, { snapshot, isFinished, graceMs: finishedGraceMs, concurrency: 8 })
      .catch((err: unknown) => {
        counters.statusCheckErrors++;
        logger?.warn({ err }, 'sse-relay: could not check the status of watched runs');
      })
      .finally(() => {
        checking = false;
      });
  };
  // One timer for every connection: an idle stream costs no timer of its own.
  const track = (conn: SseConnection) => {
    open.add(conn);
    ticker ??= setInterval(() => {
      const now = performance.now();
      for (const c of open) c.heartbeat(now);
      counters.heartbeats++;
      checkStatuses(now);
    }, heartbeatMs);
  };
  const shared: ConnectionShared = {
    maxBufferedBytes,
    stallTimeoutMs,
    counters,
    onGone(conn) {
      if (!open.delete(conn)) return;
      counters.connections--;
      if (open.size === 0) {
        clearInterval(ticker);
        ticker = undefined;
      }
    },
    onListenEnd(conn, reason) {
      if (reason !== 'done')
        logger?.info({ runId: conn.runId, reason }, 'sse-relay: stream ended; client will resume');
    },
  };

  const router = Router() as SseRouter;
  router.get('/runs/:runId/events', async (req, res) => {
    const parsed = parseEventsRequest(req);
    if (!parsed.ok) {
      // `issues` is the shape of every other 400 of an @x api; `field` is kept for old clients.
      const issues = [{ field: parsed.field, message: parsed.message }];
      return fail(res, 400, 'invalid_input', parsed.message, { field: parsed.field, issues });
    }
    // Before the first await: a burst of opens cannot all pass the check together.
    const cap = slots.hold(res, opts.workspaceOf?.(req));
    if (cap) return limited(res, cap);
    const { runId, lastEventId } = parsed;
    if (authorize && !(await authorize(req, runId)))
      return fail(res, 404, 'not_found', `run ${runId} not found`);

    // Everything that outlives this handler hangs off `conn`: no closure here captures the
    // handle (and its replay), the snapshot or the request.
    const conn = new SseConnection(res, runId, shared);
    if (shuttingDown) return snapshotOnly(req, res, conn, lastEventId !== null, shutdownRetryMs);
    if (!events.available()) return snapshotOnly(req, res, conn, lastEventId !== null, retryMs);
    let handle: ListenHandle;
    try {
      handle = await events.listen(runId, lastEventId, conn.deliver, { onEnd: conn.onEnd });
    } catch (err) {
      // Redis is away (or the relay closed): a condition that passes. EventSource treats any
      // non-200 as fatal, so answer what PostgreSQL knows and ask the client to come back.
      if (
        !(err instanceof RunEventsError) ||
        (err.code !== 'log_unavailable' && err.code !== 'closed')
      )
        throw err;
      logger?.info({ err, runId }, 'sse-relay: event log unavailable; answering the snapshot only');
      return snapshotOnly(req, res, conn, lastEventId !== null, retryMs);
    }
    if (conn.gone) return handle.close();
    // ListenHandle.close is a standalone function: keeping it does not keep the handle.
    conn.detach = handle.close;
    // Subscribed before reading the snapshot, so nothing falls between the two. The snapshot
    // is also the workspace check: a caller who may not see the run gets the 404 of a run
    // that does not exist, and the subscription is dropped with the connection.
    const run = await snapshot(runId, req);
    if (conn.gone) return;
    if (!run) {
      conn.release();
      return fail(res, 404, 'not_found', `run ${runId} not found`);
    }

    conn.open(retryMs);
    // Express keeps the router's `next` on the request for the request's whole life, and with
    // it every routing closure and context of every router level (~1.4 KB). This response
    // is now a stream that never calls next (after the headers nothing else may answer it):
    // let that chain go.
    (req as { next?: unknown }).next = undefined;
    counters.connections++;
    counters.connectionsTotal++;
    track(conn);
    const finished = isFinished(run);
    const last = finished ? await events.lastEvent(runId) : undefined;
    if (conn.ended) return;
    const resumed = lastEventId !== null;
    // A finished run had events (its `done` at least): with no history left, even a resume
    // from 0 missed them (expired, or an in-memory log lost in a restart), so the client must
    // reload from the snapshot's source rather than trust an empty replay.
    // So had a run whose history is gone (Redis lost it): a resume from 0 missed its events.
    const recovered =
      handle.recovered && !(finished && !last) && !(handle.epoch === undefined && hadEvents(run));
    if (resumed) counters[recovered ? 'resumesRecovered' : 'resumesNotRecovered']++;
    conn.sendData({
      type: 'snapshot',
      runId,
      run,
      ...(resumed ? { recovered } : {}),
    });
    for (const event of handle.replay) conn.send(event);
    if (conn.ended) return;

    if (finished) {
      if (!last) return finishFromSnapshot(conn, run);
      if (last.type === 'done') {
        // The replay was read up to this process's cursor, which can lag the history (the
        // run's last events were appended after it, or their publish has not arrived here):
        // `done` goes out now only if nothing falls between. A client that must reload
        // (`recovered: false`) takes the snapshot as the truth and needs nothing between.
        const at =
          resumed && recovered ? Math.max(handle.headSeq, lastEventId.seq) : handle.headSeq;
        if ((resumed && !recovered) || (last.epoch === handle.epoch && last.seq <= at + 1))
          return conn.send(last);
        // Otherwise the events between, then `done`, come through the live path, read from
        // the history now; if they do not within the grace, the client resumes from its id.
        armResume(conn, finishedGraceMs, retryMs);
      } else {
        // The status is final but `done` is still on its way: stream until it arrives.
        armGrace(conn, run, finishedGraceMs);
      }
    }
    handle.start();
    if (finished) handle.catchUp();
  });

  /**
   * The run as the store has it, then `retry:`: the client comes back for the live part. Its
   * resume point stays valid (no event is sent, so EventSource keeps its Last-Event-ID): a
   * resume is `recovered: true`, and the next connection replays what follows it, or says
   * `recovered: false` if the history was lost meanwhile.
   */
  async function snapshotOnly(
    req: Request,
    res: Response,
    conn: SseConnection,
    resumed: boolean,
    hint: number,
  ) {
    const run = await snapshot(conn.runId, req);
    if (conn.gone) return;
    if (!run) {
      conn.release();
      return fail(res, 404, 'not_found', `run ${conn.runId} not found`);
    }
    counters.snapshotOnly++;
    conn.open(hint);
    conn.sendData({
      type: 'snapshot',
      runId: conn.runId,
      run,
      ...(resumed ? { recovered: true } : {}),
    });
    // A `done` from the snapshot is right for a client without a resume point. One that holds
    // an id would take it as the end of a complete stream, although the events after its id
    // are still to be replayed: it comes back for them (and the history's `done`) instead.
    if (isFinished(run) && !resumed) return finishFromSnapshot(conn, run);
    conn.end(`retry: ${hint}\n\n`);
  }

  router.metrics = () => ({ ...counters });
  router.shutdown = async ({ retryMs: hint = 1_000, timeoutMs = 5_000 } = {}) => {
    shuttingDown = true;
    shutdownRetryMs = hint;
    await endConnections(open, hint, timeoutMs);
    clearInterval(ticker);
    ticker = undefined;
  };
  router.close = () => router.shutdown();
  return router;
}
