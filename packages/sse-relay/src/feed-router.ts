import type { Logger } from '@x/kernel';
import { isTag, MAX_TAGS } from '@x/protocol';
import { type Request, type Response, Router } from 'express';
import { endConnections } from './end-connections.js';
import type { RunEvent } from './run-event-types.js';
import type { RunEvents } from './run-events-api.js';
import { type ConnectionCounters, type ConnectionShared, SseConnection } from './sse-connection.js';
import { parseEventsRequest } from './sse-request.js';
import { StreamSlots } from './stream-slots.js';
import { workspaceFeedKey } from './workspace-feed.js';

export interface FeedRouterOptions {
  /** The events the workspace feeds are appended to (see `createWorkspaceFeed`). */
  events: RunEvents;
  /** The authenticated caller's workspace; undefined answers 401 (the app authenticates first). */
  workspaceOf: (req: Request) => string | undefined;
  /** Heartbeat comment interval, ms. Default 5,000. */
  heartbeatMs?: number;
  /** The `retry:` reconnect hint sent first, ms. Default 2,000. */
  retryMs?: number;
  /** Unsent bytes one client may hold before it is disconnected (it resumes). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** A client whose unsent bytes did not drain for this long is disconnected. Default 30,000. */
  stallTimeoutMs?: number;
  /** Open feed streams on this process. Default 1,000. */
  maxStreams?: number;
  /** Open feed streams of one workspace on this process. Default 20. */
  maxStreamsPerWorkspace?: number;
  logger?: Logger;
}

export interface FeedRouterMetrics extends ConnectionCounters {
  connections: number;
  connectionsTotal: number;
  resumesRecovered: number;
  resumesNotRecovered: number;
  rejected: number;
  /** Frames not sent to a connection because its `?tag=` filter did not match. */
  filtered: number;
}

export interface FeedRouter extends Router {
  shutdown(opts?: { retryMs?: number; timeoutMs?: number }): Promise<void>;
  metrics(): FeedRouterMetrics;
}

/**
 * `GET /events`: the workspace's `run` frames, live. The first frame is a `snapshot` (with
 * `recovered` on a resume, `false` when the history no longer holds everything after the
 * client's id: reload the list), then every frame after `Last-Event-ID` (or `?lastEventId=`)
 * and live ones, each with its id, in the same order for every client. `?tag=` (repeatable)
 * keeps only the runs carrying every tag. The feed never ends by itself. Connections are the
 * per-run stream's: bounded unsent bytes, stalled readers cut off (they resume).
 */
export function createFeedRouter(opts: FeedRouterOptions): FeedRouter {
  const { events, logger } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const retryMs = opts.retryMs ?? 2_000;
  const slots = new StreamSlots(opts.maxStreams ?? 1_000, opts.maxStreamsPerWorkspace ?? 20);
  const counters: FeedRouterMetrics = {
    connections: 0,
    connectionsTotal: 0,
    resumesRecovered: 0,
    resumesNotRecovered: 0,
    rejected: 0,
    filtered: 0,
    eventsDelivered: 0,
    slowClientDisconnects: 0,
    stalledClientDisconnects: 0,
    peakBufferedBytes: 0,
  };
  const open = new Set<SseConnection>();
  let ticker: NodeJS.Timeout | undefined;
  let shuttingDown = false;
  // A frame names the run it is about (the log keys it by the feed): rewritten once per event.
  const views = new WeakMap<RunEvent, RunEvent>();
  const viewOf = (event: RunEvent): RunEvent => {
    let view = views.get(event);
    if (!view) {
      const data = event.data as { run: { id: string } };
      const json = JSON.stringify({ type: event.type, runId: data.run.id, ...data });
      view = { ...event, runId: data.run.id, json } as RunEvent;
      views.set(event, view);
    }
    return view;
  };

  const fail = (res: Response, status: number, code: string, field: string, message: string) => {
    counters.rejected++;
    res
      .status(status)
      .json({ error: { code, message, details: { issues: [{ field, message }] } } });
  };
  const shared: ConnectionShared = {
    maxBufferedBytes: opts.maxBufferedBytes ?? 1024 * 1024,
    stallTimeoutMs: opts.stallTimeoutMs ?? 30_000,
    counters,
    onGone(conn) {
      if (!open.delete(conn)) return;
      counters.connections--;
      if (open.size === 0) {
        clearInterval(ticker);
        ticker = undefined;
      }
    },
    onListenEnd(_conn, reason) {
      logger?.info({ reason }, 'sse-relay: workspace feed stream ended; client will resume');
    },
  };

  const router = Router() as FeedRouter;
  router.get('/events', async (req, res) => {
    const workspace = opts.workspaceOf(req);
    if (workspace === undefined)
      return fail(res, 401, 'unauthorized', 'authorization', 'no workspace');
    const raw = req.query.tag;
    const tags = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (tags.length > MAX_TAGS || !tags.every(isTag)) {
      return fail(
        res,
        400,
        'invalid_input',
        'tag',
        `tag must be up to ${MAX_TAGS} tags of [a-z0-9._:-]{1,64}`,
      );
    }
    const key = workspaceFeedKey(workspace);
    // The per-run stream's resume rules, read by its own parser (the feed key is a UUID).
    const parsed = parseEventsRequest({
      params: { runId: key },
      query: req.query,
      get: (name: string) => req.get(name),
    } as unknown as Request);
    if (!parsed.ok) return fail(res, 400, 'invalid_input', parsed.field, parsed.message);
    if (shuttingDown)
      return fail(res, 503, 'service_unavailable', 'server', 'shutting down; retry');
    const cap = slots.hold(res, workspace);
    if (cap) {
      res.set('Retry-After', '5');
      return fail(res, 429, 'rate_limited', 'events', `too many open feed streams (${cap})`);
    }
    const wanted = tags as string[];
    const conn = new SseConnection(res, key, shared);
    const deliver = (event: RunEvent) => {
      if (event.type !== 'run') return;
      const runTags: readonly string[] = event.data.run.tags;
      if (wanted.length > 0 && !wanted.every((t) => runTags.includes(t))) {
        counters.filtered++;
        return;
      }
      conn.send(viewOf(event));
    };
    const handle = await events.listen(key, parsed.lastEventId, deliver, { onEnd: conn.onEnd });
    if (conn.gone) return handle.close();
    conn.detach = handle.close;
    conn.open(retryMs);
    (req as { next?: unknown }).next = undefined;
    counters.connections++;
    counters.connectionsTotal++;
    open.add(conn);
    ticker ??= setInterval(() => {
      const now = performance.now();
      for (const c of open) c.heartbeat(now);
    }, heartbeatMs);
    const resumed = parsed.lastEventId !== null;
    if (resumed) counters[handle.recovered ? 'resumesRecovered' : 'resumesNotRecovered']++;
    conn.sendData({ type: 'snapshot', ...(resumed ? { recovered: handle.recovered } : {}) });
    for (const event of handle.replay) deliver(event);
    if (conn.ended) return;
    handle.start();
  });

  router.metrics = () => ({ ...counters });
  router.shutdown = async ({ retryMs: hint = 1_000, timeoutMs = 5_000 } = {}) => {
    shuttingDown = true;
    await endConnections(open, hint, timeoutMs);
    clearInterval(ticker);
    ticker = undefined;
  };
  return router;
}
