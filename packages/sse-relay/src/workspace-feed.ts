import { createHash } from 'node:crypto';
import type { Logger } from '@x/kernel';
import type { FeedChange, RunEventPayloads } from '@x/protocol';
import type { NewRunEvent, RunEvents } from './run-events-api.js';

/**
 * The key of a workspace's feed in the event log: a UUID derived from the workspace id
 * (SHA-256, version 8), so the feed is one more "run" to the log (sequence, bounded history,
 * resume, cluster hash tag) without colliding with a real run (those are version 4).
 */
export function workspaceFeedKey(workspaceId: string): string {
  const h = createHash('sha256').update(`x:workspace-feed\n${workspaceId}`).digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** What a feed frame says about a run besides the change: its id and tags at least. */
export type FeedRun = RunEventPayloads['run']['run'];

/** The fields of a run that never change: read once per run and process. */
export interface FeedRunInfo {
  workspaceId: string;
  tags: readonly string[];
  name: string | null;
  createdAt: string;
  total: number;
  shardCount: number;
}

export interface WorkspaceFeedOptions {
  /** Where run events go; feed frames are appended to it under {@link workspaceFeedKey}. */
  events: RunEvents;
  /** A run's fixed fields (the store's run), undefined for an unknown run. */
  lookup: (runId: string) => Promise<FeedRunInfo | undefined>;
  /** At most one `progress` frame per run per this many ms (the latest wins). Default 500: ≤ 2/s. */
  progressIntervalMs?: number;
  /** Runs whose fixed fields are remembered. Default 10,000. */
  maxCachedRuns?: number;
  logger?: Logger;
}

export interface WorkspaceFeedMetrics {
  frames: number;
  /** Progress frames folded into a later one by the throttle. */
  throttled: number;
  /** Frames that could not be appended (the log refused, or the run could not be read). */
  errors: number;
  lookups: number;
}

export interface WorkspaceFeed {
  /** `events` with every run's `status`, `progress` and `done` also reported on its workspace's feed. */
  readonly events: RunEvents;
  /** Reports a new run (the api, after it created one). Never throws. */
  created(workspaceId: string, run: FeedRun): Promise<void>;
  metrics(): WorkspaceFeedMetrics;
  /** Drops pending progress frames and timers; not the wrapped `events`. */
  close(): void;
}

interface Throttle {
  last: number;
  timer: NodeJS.Timeout | undefined;
  pending: FeedRun | undefined;
}

/**
 * The workspace feed's producer. Wraps `RunEvents` so that whoever emits a run's events (a
 * worker, the abort, the finalizer) also appends a `run` frame to the run's workspace feed,
 * after the run's own event: created (from the api), status changes, progress (throttled per
 * run in this process) and done. A feed failure never fails the run's emit: it is counted and
 * logged.
 *
 * @example
 * const feed = createWorkspaceFeed({ events, lookup: async (id) => store.getRunById(id) });
 * createShardWorker({ events: feed.events, … });
 */
export function createWorkspaceFeed(opts: WorkspaceFeedOptions): WorkspaceFeed {
  const { events, logger } = opts;
  const interval = opts.progressIntervalMs ?? 500;
  const maxCached = opts.maxCachedRuns ?? 10_000;
  const counters: WorkspaceFeedMetrics = { frames: 0, throttled: 0, errors: 0, lookups: 0 };
  const infos = new Map<string, Promise<FeedRunInfo | undefined>>();
  const throttles = new Map<string, Throttle>();
  // Feeds this process has begun: a feed's history starts at id 1 in its first epoch, like a
  // run's (a history found missing later is a rebuilt one, and resumes are told so).
  const begun = new Set<string>();
  let closed = false;

  const infoOf = (runId: string) => {
    let info = infos.get(runId);
    if (!info) {
      counters.lookups++;
      info = opts.lookup(runId);
      // An unknown run (or a failed read) is asked again next time.
      info.then(
        (found) => found === undefined && infos.delete(runId),
        () => infos.delete(runId),
      );
      if (infos.size >= maxCached) infos.delete(infos.keys().next().value!);
      infos.set(runId, info);
    }
    return info;
  };

  const append = async (workspaceId: string, change: FeedChange, run: FeedRun) => {
    const key = workspaceFeedKey(workspaceId);
    try {
      if (!begun.has(key)) {
        await events.begin(key);
        if (begun.size >= maxCached) begun.clear();
        begun.add(key);
      }
      await events.emit(key, 'run', { change, run });
      counters.frames++;
    } catch (err) {
      counters.errors++;
      logger?.warn({ err, runId: run.id, change }, 'sse-relay: workspace feed frame not appended');
    }
  };

  const report = async (runId: string, change: FeedChange, fields: Partial<FeedRun>) => {
    let info: FeedRunInfo | undefined;
    try {
      info = await infoOf(runId);
    } catch (err) {
      counters.errors++;
      logger?.warn({ err, runId }, 'sse-relay: workspace feed could not read the run');
      return;
    }
    if (!info || closed) return;
    const { workspaceId, tags, ...fixed } = info;
    await append(workspaceId, change, { ...fixed, ...fields, id: runId, tags: [...tags] });
  };

  const progress = (runId: string, fields: FeedRun) => {
    const now = performance.now();
    let t = throttles.get(runId);
    if (!t || now - t.last >= interval) {
      if (!t) {
        if (throttles.size >= maxCached) {
          const [oldest, gone] = throttles.entries().next().value!;
          clearTimeout(gone.timer);
          throttles.delete(oldest);
        }
        t = { last: now, timer: undefined, pending: undefined };
        throttles.set(runId, t);
      }
      t.last = now;
      return report(runId, 'progress', fields);
    }
    if (t.pending) counters.throttled++;
    t.pending = fields;
    const held = t;
    held.timer ??= setTimeout(
      () => {
        held.timer = undefined;
        const latest = held.pending;
        held.pending = undefined;
        held.last = performance.now();
        if (latest) void report(runId, 'progress', latest);
      },
      interval - (now - t.last),
    );
  };

  const finish = (runId: string) => {
    const t = throttles.get(runId);
    if (t) {
      clearTimeout(t.timer);
      if (t.pending) counters.throttled++;
      throttles.delete(runId);
    }
  };

  const observe = (runId: string, batch: readonly NewRunEvent[], seqs: readonly number[]) => {
    batch.forEach((e, i) => {
      // Refused by the log (after the run's done): nothing changed.
      if (seqs[i] === 0) return;
      if (e.type === 'status')
        void report(runId, 'status', { status: e.payload.status } as FeedRun);
      else if (e.type === 'progress') progress(runId, { ...e.payload } as unknown as FeedRun);
      else if (e.type === 'done') {
        finish(runId);
        void report(runId, 'done', { ...e.payload } as unknown as FeedRun);
      }
    });
  };

  const wrapped: RunEvents = {
    ...events,
    async emit(runId, type, payload) {
      const seq = await events.emit(runId, type, payload);
      observe(runId, [{ type, payload } as NewRunEvent], [seq]);
      return seq;
    },
    async emitMany(runId, batch, opts) {
      const seqs = await events.emitMany(runId, batch, opts);
      observe(runId, batch, seqs);
      return seqs;
    },
  };

  return {
    events: wrapped,
    async created(workspaceId, run) {
      if (closed) return;
      await append(workspaceId, 'created', run);
    },
    metrics: () => ({ ...counters }),
    close() {
      closed = true;
      for (const t of throttles.values()) clearTimeout(t.timer);
      throttles.clear();
      infos.clear();
    },
  };
}
