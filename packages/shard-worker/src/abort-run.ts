import { abortReason, canonicalUuid, type Logger, silentLogger } from '@x/kernel';
import type { RunAborter } from '@x/run-abort';
import { type Run, type RunStore, RunStoreError } from '@x/run-store';
import type { StopReason } from '@x/stop-jobs';
import type { CallbackOutbox } from './callback-outbox.js';
import type { RunEventsSink } from './run-events-sink.js';
import { doneEvent } from './run-outcome.js';
import type { ShardQueue } from './shard-queue.js';
import { stopMessage } from './stop-message.js';

/** The slice of @x/run-abort's `RunAborter` the use case uses: status write, local cancel, publish. */
export type AbortRunAborter = Pick<RunAborter, 'abort'>;

export interface AbortRunDeps {
  store: Pick<RunStore, 'getRunById'>;
  aborter: AbortRunAborter;
  /** Where the winner removes the run's waiting shard jobs. */
  queue: Pick<ShardQueue, 'removeWaiting'>;
  /** Where the winner's `done` goes (`RunEvents` of @x/sse-relay). */
  events: RunEventsSink;
  /**
   * This process's callback outbox: it delivers an aborted run's callback at once. Give one
   * where callbacks may leave (a worker, the embedded app); an api replica of a fleet has
   * none, and its aborts' callbacks wait in the store's outbox for a worker (the stop job it
   * queues makes one deliver it at once; else a worker's sweep does). Default none.
   */
  outbox?: Pick<CallbackOutbox, 'deliver'>;
  logger?: Logger;
}

export interface AbortRunOptions {
  /** Who asked (a workspace, an operator), or null; the run's error says it: `aborted by ws-a`. */
  requestedBy: string | null;
  /** Why. Default `user_request`. */
  reason?: StopReason;
  /**
   * Stops waiting: the call rejects with the signal's reason. The status write, once sent,
   * still lands and its winner still announces the run (an abort is idempotent: retry it).
   */
  signal?: AbortSignal;
}

export interface AbortRunOutcome {
  /** True when this call wrote `aborted`: it alone emits `done` and cleans the queue. */
  won: boolean;
  /**
   * The run after the call: as this call's write returned it, or else as the winner left it
   * (`aborted` by an earlier call, or the `completed`/`failed` that came first).
   */
  run: Run;
  /**
   * The winner's `done` append, settled (never rejects; a failure is counted and logged).
   * Undefined for a loser. A caller that writes to another Redis key and needs `done` out
   * first waits for it: on a Redis Cluster the two live on different primaries, and nothing
   * else orders them.
   */
  announced?: Promise<void>;
}

/** Aborts a run: `undefined` when there is no such run (a malformed id names none either). */
export type AbortRun = (
  runId: string,
  opts: AbortRunOptions,
) => Promise<AbortRunOutcome | undefined>;

export interface AbortRunMetrics {
  /** Calls that wrote `aborted`. */
  won: number;
  /** Calls that found the run aborted already (a retry, a replayed stop job). */
  repeated: number;
  /** Calls that found the run completed or failed: nothing aborted. */
  lost: number;
  notFound: number;
  doneEvents: number;
  /** `done` events the event log refused (Redis down); a client recovers from its snapshot. */
  emitErrors: number;
  /** Queue cleanups that failed; a left-over shard job is refused when it starts. */
  cleanupErrors: number;
}

export interface AbortRunUseCase {
  abortRun: AbortRun;
  metrics(): AbortRunMetrics;
  /** Waits for the winners' follow-ups in flight (`done`, queue cleanup). */
  close(): Promise<void>;
}

/**
 * The one abort use case, whoever asks (the HTTP route, a stop job on a worker):
 *
 * 1. `aborter.abort`: `aborted` written first-writer-wins (the write also leaves the run's
 *    callback pending in the store's outbox), this process's shards cancelled, the abort
 *    published to every replica.
 * 2. Only the winner, right after its write: `done` (no round trip in between; the write
 *    returned the run's counts), then, once it is appended, the removal of the run's waiting
 *    shard jobs.
 *    The answer does not wait for these Redis-side steps, so it stands while Redis is down.
 * 3. If this process has an outbox and the run is aborted: its callback is handed to it.
 *    The claim is first-wins, so whichever process claims first sends it, once.
 *
 * A loser (a repeated abort, a replayed stop job) only re-signals the shards (step 1
 * publishes again: a retry of a lost publish) and reads the winner's run.
 *
 * @example
 * const { abortRun } = createAbortRun({ store, aborter, queue, events, outbox });
 * const outcome = await abortRun(runId, { requestedBy: 'ws-a' });
 * if (!outcome) reply(404);
 * else if (outcome.run.status !== 'aborted') reply(409, outcome.run.status);
 * else reply(202, outcome.run);
 */
export function createAbortRun(deps: AbortRunDeps): AbortRunUseCase {
  const logger = deps.logger ?? silentLogger;
  const counters: AbortRunMetrics = {
    won: 0,
    repeated: 0,
    lost: 0,
    notFound: 0,
    doneEvents: 0,
    emitErrors: 0,
    cleanupErrors: 0,
  };
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };

  const announce = (run: Run): Promise<void> => {
    const { type, payload } = doneEvent(run);
    const announced = deps.events.emit(run.id, type, payload).then(
      () => void counters.doneEvents++,
      (err: unknown) => {
        counters.emitErrors++;
        logger.warn({ err, runId: run.id }, 'abort: done event not emitted');
      },
    );
    track(announced);
    // The removal waits for the append: its script would otherwise be built and written
    // first, in the same turn, and the `done` would leave ~0.2 ms later (bench:system). A
    // waiting shard job that starts meanwhile finds the run aborted and is refused.
    track(
      announced
        .then(() => deps.queue.removeWaiting(run.id, run.shardCount))
        .then(
          () => undefined,
          (err: unknown) => {
            counters.cleanupErrors++;
            logger.warn({ err, runId: run.id }, 'abort: waiting shard jobs not removed');
          },
        ),
    );
    return announced;
  };

  const write = async (runId: string, message: string) => {
    try {
      return await deps.aborter.abort(runId, message);
    } catch (err) {
      // The status write is the existence check: no read before it.
      if (err instanceof RunStoreError && err.code === 'not_found') return undefined;
      throw err;
    }
  };

  // Everything after the write is chained to it, not to the caller: a caller that stops
  // waiting (signal) cannot leave a winning write unannounced.
  const settle = async (runId: string, message: string) => {
    const written = await write(runId, message);
    // The winner's write returned its run; a loser reads the winner's.
    const run = written && (written.run ?? (await deps.store.getRunById(runId)));
    if (!written || !run) {
      counters.notFound++;
      return undefined;
    }
    let announced: Promise<void> | undefined;
    if (written.won) {
      counters.won++;
      announced = announce(run);
    } else if (run.status === 'aborted') counters.repeated++;
    else counters.lost++;
    if (run.status === 'aborted' && run.callbackUrl) void deps.outbox?.deliver(run.id);
    return { won: written.won, run, ...(announced && { announced }) };
  };

  return {
    async abortRun(runId, opts) {
      opts.signal?.throwIfAborted();
      const id = canonicalUuid(runId);
      if (!id) {
        counters.notFound++;
        return undefined;
      }
      const message = stopMessage(opts.reason ?? 'user_request', opts.requestedBy);
      return untilAborted(settle(id, message), opts.signal);
    },
    metrics: () => ({ ...counters }),
    async close() {
      await Promise.allSettled([...pending]);
    },
  };
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
