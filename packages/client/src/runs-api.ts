import type {
  BulkAbortBody,
  BulkAbortResponse,
  ResultsResponse,
  RunListResponse,
  RunResponse,
  RunStatus,
} from '@x/protocol';
import type { HttpTransport } from './http-transport.js';
import { paginate } from './paginate.js';
import type { RunEvent } from './run-event.js';
import type { CreateRunBody, Result, Run } from './run-types.js';
import { type WatchOptions, watchRun } from './watch/watch-run.js';
import { type FeedEvent, type WatchAllOptions, watchWorkspace } from './watch/watch-workspace.js';

export interface CallOptions {
  /** Aborts the request; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface CreateRunOptions extends CallOptions {
  /**
   * Sent as the `Idempotency-Key` header, so that retrying a create that timed out cannot
   * start a second run (once the server honours it). Any unique string, e.g. a UUID.
   */
  idempotencyKey?: string;
}

export interface ListRunsOptions extends CallOptions {
  /** Only runs in this status, or in one of these. */
  status?: RunStatus | readonly RunStatus[];
  /** Only runs carrying every one of these tags. */
  tags?: readonly string[];
  /** Only runs created at or after this instant. */
  createdAfter?: Date | string;
  /** Only runs created before this instant. */
  createdBefore?: Date | string;
  /** Runs fetched per request (1–200, server default 50). The iteration follows every page. */
  limit?: number;
}

export interface ResultsOptions extends CallOptions {
  /** Results fetched per request (1–1000, server default 200). The iteration follows every page. */
  limit?: number;
}

/** `x.runs`: every call of `/api/v1/runs`. */
export interface RunsApi {
  /** `POST /runs`: creates and enqueues a run. */
  create(body: CreateRunBody, opts?: CreateRunOptions): Promise<Run>;
  /** `GET /runs/:id`. A run of another workspace is `not_found`. */
  get(id: string, opts?: CallOptions): Promise<Run>;
  /** `GET /runs`, newest first, page after page; `break` stops fetching. */
  list(opts?: ListRunsOptions): AsyncIterable<Run>;
  /** `GET /runs/:id/results`, in the order they were recorded, page after page. */
  results(id: string, opts?: ResultsOptions): AsyncIterable<Result>;
  /** `POST /runs/:id/abort`: idempotent; `conflict` if the run already completed or failed. */
  abort(id: string, opts?: CallOptions): Promise<Run>;
  /**
   * `POST /runs/abort`: aborts every queued or running run with `tag` and/or in `status`
   * (an empty filter is refused, `invalid_input`). Answers how many runs this call aborted;
   * repeating it answers 0.
   */
  abortMany(filter: BulkAbortBody, opts?: CallOptions): Promise<number>;
  /**
   * The run's events, live, whatever happens to the connection: a `snapshot` opens each
   * connection, then every event once, in order, until `done`. See {@link WatchOptions}.
   */
  watch(id: string, opts?: WatchOptions): AsyncIterable<RunEvent>;
  /**
   * The workspace feed (`GET /events`): a `snapshot` opens each connection, then a `run` event
   * per run created, status change, progress (≤ 2/s a run) and done, for every run of the
   * workspace (or those with every one of `tags`). Never ends by itself.
   */
  watchAll(opts?: WatchAllOptions): AsyncIterable<FeedEvent>;
}

const instant = (value: Date | string | undefined) =>
  value instanceof Date ? value.toISOString() : value;

const runPath = (id: string) => `/runs/${encodeURIComponent(id)}`;

export function runsApi(http: HttpTransport): RunsApi {
  return {
    async create(body, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.idempotencyKey !== undefined) headers['idempotency-key'] = opts.idempotencyKey;
      const res = await http.json<RunResponse>('/runs', {
        method: 'POST',
        body,
        headers,
        signal: opts.signal,
      });
      return res.run;
    },
    async get(id, opts = {}) {
      return (await http.json<RunResponse>(runPath(id), { signal: opts.signal })).run;
    },
    list(opts = {}) {
      return paginate(async (cursor) => {
        const page = await http.json<RunListResponse>('/runs', {
          query: {
            status: opts.status as string | readonly string[] | undefined,
            tag: opts.tags,
            createdAfter: instant(opts.createdAfter),
            createdBefore: instant(opts.createdBefore),
            limit: opts.limit,
            cursor,
          },
          signal: opts.signal,
        });
        return { items: page.runs, nextCursor: page.nextCursor };
      });
    },
    results(id, opts = {}) {
      return paginate(async (cursor) => {
        const page = await http.json<ResultsResponse>(`${runPath(id)}/results`, {
          query: { limit: opts.limit, cursor },
          signal: opts.signal,
        });
        return { items: page.results, nextCursor: page.nextCursor };
      });
    },
    async abort(id, opts = {}) {
      const res = await http.json<RunResponse>(`${runPath(id)}/abort`, {
        method: 'POST',
        signal: opts.signal,
      });
      return res.run;
    },
    async abortMany(filter, opts = {}) {
      const res = await http.json<BulkAbortResponse>('/runs/abort', {
        method: 'POST',
        body: filter,
        signal: opts.signal,
      });
      return res.aborted;
    },
    watch(id, opts = {}) {
      return watchRun(http, id, opts);
    },
    watchAll(opts = {}) {
      return watchWorkspace(http, opts);
    },
  };
}
