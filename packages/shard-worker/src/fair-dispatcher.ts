import { type Logger, silentLogger } from '@x/kernel';
import type { DispatchShard, RunStore, WorkspaceShare } from '@x/run-store';
import { periodicTask } from './periodic-task.js';
import { DEFAULT_SHARD_JOB_OPTIONS, type ShardJobOptions, type ShardQueue } from './shard-queue.js';
import { ShardWorkerError } from './shard-worker-error.js';
import { failUnusableRun, storedShardJob } from './stored-shard-job.js';
import type { ShardJobData } from './test-schemas.js';

/** How shards leave the outbox: whole runs in creation order, or per workspace share. */
export const DISPATCH_MODES = ['fifo', 'fair'] as const;
export type DispatchMode = (typeof DISPATCH_MODES)[number];

/** Each workspace's share (`DISPATCH_WINDOW`, `WORKSPACE_MAX_RUNNING_SHARDS`, `WORKSPACE_LIMITS`). */
export interface WorkspaceLimits {
  /**
   * Shards of one workspace waiting in the queue (released, not started) at most, × its weight.
   * Default 16: another workspace's first shard waits behind at most this many of each busy
   * workspace, and the workers always find shards waiting (no idle slot between passes).
   */
  window?: number;
  /** Released-not-finished shards of one workspace at most. Default null: no cap. */
  maxRunningShards?: number | null;
  /** Per-workspace cap and weight. */
  overrides?: readonly WorkspaceShare[];
}

export interface FairDispatcherOptions {
  store: Pick<RunStore, 'dispatchShards' | 'transition'>;
  queue: Pick<ShardQueue, 'add'>;
  limits?: WorkspaceLimits;
  /** Attempts and backoff of every job. Default {@link DEFAULT_SHARD_JOB_OPTIONS}. */
  jobOptions?: ShardJobOptions;
  /**
   * Pause between timed passes. Default 250 ms; `wake` runs one besides (on run creation), and
   * so does {@link FairDispatcher.shardSettled} once enough shards of this process ended.
   */
  intervalMs?: number;
  /**
   * Shard ends ({@link FairDispatcher.shardSettled}) that trigger a pass at once. Default half
   * the window (at least 1): a pass per shard end cost more than the slots it freed were worth
   * (each pass is a locked PostgreSQL statement), while half a window still leaves the other
   * half waiting in the queue for the workers.
   */
  settleBatch?: number;
  /**
   * The longest a shard end waits for its pass when fewer than `settleBatch` ended. Default
   * 20 ms: a lone shard end (a small fleet, the tail of a flood) frees its slot soon anyway.
   */
  settleDelayMs?: number;
  /**
   * Begins a run's event history (its first epoch, ids from 1) when its shard 0 is released,
   * before the job exists, as the FIFO enqueuer does for a whole run.
   */
  events?: { begin(runId: string): Promise<void> };
  logger?: Logger;
}

export interface FairDispatcherMetrics {
  passes: number;
  /** Passes that released at least one shard. */
  releasingPasses: number;
  shardsReleased: number;
  /** Runs whose last shard this process released. */
  runsEnqueued: number;
  /** Runs failed because a stored shard could not be turned into a job. */
  unusableRuns: number;
  /** Passes that threw (queue or database unreachable): nothing was released, the timer backs off. */
  errors: number;
  /** Shard ends reported by {@link FairDispatcher.shardSettled}. */
  shardsSettled: number;
  /** Passes shard ends asked for: a full batch, or the delay after the first unserved one. */
  settlePasses: number;
}

export interface FairDispatcher {
  /** Starts the timed passes (idempotent); the first runs at once. */
  start(): void;
  /** A pass now (or right after the one in flight); never rejects. */
  wake(): Promise<void>;
  /**
   * A shard job of this process ended (its slot in its workspace's share is free). Counts it
   * and asks for a pass once `settleBatch` ended, or `settleDelayMs` after the first one no
   * pass has served yet, whichever comes first; any pass that begins serves every end before it.
   */
  shardSettled(): void;
  /** Stops the timer and waits for the pass in flight. */
  close(): Promise<void>;
  metrics(): FairDispatcherMetrics;
}

/**
 * Weighted round robin over the workspaces: `weight` shards of each in turn, each
 * workspace's in the order the store gave them (oldest run first), so one pass never puts
 * a workspace's whole share ahead of another's first shard in the queue.
 */
export function roundRobin(shards: readonly DispatchShard[]): DispatchShard[] {
  const byWorkspace = new Map<string, DispatchShard[]>();
  for (const s of shards) {
    const list = byWorkspace.get(s.workspaceId);
    if (list) list.push(s);
    else byWorkspace.set(s.workspaceId, [s]);
  }
  const lists = [...byWorkspace.values()];
  const out: DispatchShard[] = [];
  for (let round = 0; out.length < shards.length; round++) {
    for (const list of lists) {
      const w = list[0]!.weight;
      out.push(...list.slice(round * w, (round + 1) * w));
    }
  }
  return out;
}

/**
 * The fair-share side of the enqueue outbox (`DISPATCH_MODE=fair`): instead of whole runs in
 * creation order, each pass releases to the queue, per workspace, only as many shards as its
 * share allows — its window of waiting shards (× weight) and its cap of released-not-finished
 * shards — so a workspace with thousands of queued shards keeps at most a window in the queue,
 * and another workspace's first shard waits behind at most one window of each. Every api and
 * worker runs one; passes are serialized in PostgreSQL (advisory lock), so any process may
 * release and none double-releases. A dead worker's shards stay released until BullMQ's
 * stall check hands them to another worker (then they complete and free the share); an
 * aborted run's shards stop counting at once.
 *
 * @example
 * const dispatcher = createFairDispatcher({ store, queue, limits: { window: 16 } });
 * dispatcher.start();
 * const coordinator = createCoordinator({ store, enqueuer: dispatcher, executors });
 * const worker = createShardWorker({ ..., onShardSettled: () => dispatcher.shardSettled() });
 */
export function createFairDispatcher(opts: FairDispatcherOptions): FairDispatcher {
  const { store, queue } = opts;
  const jobOptions = opts.jobOptions ?? DEFAULT_SHARD_JOB_OPTIONS;
  const intervalMs = opts.intervalMs ?? 250;
  const settleDelayMs = opts.settleDelayMs ?? 20;
  const logger = opts.logger ?? silentLogger;
  const query = {
    window: opts.limits?.window ?? 16,
    maxRunningShards: opts.limits?.maxRunningShards ?? null,
    overrides: opts.limits?.overrides ?? [],
  };
  const settleBatch = opts.settleBatch ?? Math.max(1, Math.floor(query.window / 2));
  for (const [name, v] of [
    ['intervalMs', intervalMs],
    ['window', query.window],
    ['settleBatch', settleBatch],
    ['settleDelayMs', settleDelayMs],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new ShardWorkerError(
        'invalid_option',
        `fair dispatcher: ${name} must be an integer >= 1, got ${v}`,
      );
  }
  const counters: FairDispatcherMetrics = {
    passes: 0,
    releasingPasses: 0,
    shardsReleased: 0,
    runsEnqueued: 0,
    unusableRuns: 0,
    errors: 0,
    shardsSettled: 0,
    settlePasses: 0,
  };

  const hand = async (shards: readonly DispatchShard[]) => {
    const jobs: ShardJobData[] = [];
    const failed = new Set<string>();
    for (const shard of roundRobin(shards)) {
      if (failed.has(shard.runId)) continue;
      const built = storedShardJob(shard, shard);
      if ('problem' in built) {
        failed.add(shard.runId);
        counters.unusableRuns++;
        logger.error({ runId: shard.runId, problem: built.problem }, 'run cannot be dispatched');
        await failUnusableRun(store, shard.runId, built.problem);
        continue;
      }
      jobs.push(built.data);
    }
    const kept = jobs.filter((j) => !failed.has(j.runId));
    if (kept.length === 0) return;
    const beginning = kept.filter((j) => j.shardIndex === 0).map((j) => j.runId);
    if (opts.events) await Promise.all(beginning.map((runId) => opts.events!.begin(runId)));
    await queue.add(kept, jobOptions);
  };

  // Shard ends no pass has served yet, and the timer the first of them started.
  let unserved = 0;
  let settleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const task = periodicTask({
    intervalMs,
    run: async () => {
      // This pass reads the store after every end counted so far was recorded there.
      unserved = 0;
      clearTimeout(settleTimer);
      settleTimer = undefined;
      counters.passes++;
      const outcome = await store.dispatchShards(query, hand);
      if (outcome.shards === 0) return;
      counters.releasingPasses++;
      counters.shardsReleased += outcome.shards;
      counters.runsEnqueued += outcome.runsEnqueued;
    },
    onError: (err, failures) => {
      counters.errors++;
      logger.warn({ err, failures }, 'dispatch pass failed; shards wait in the outbox');
    },
  });

  const settlePass = () => {
    clearTimeout(settleTimer);
    settleTimer = undefined;
    counters.settlePasses++;
    void task.wake();
  };

  return {
    start: () => task.start(),
    wake: () => task.wake(),
    shardSettled() {
      counters.shardsSettled++;
      if (closed) return;
      unserved++;
      if (unserved >= settleBatch) settlePass();
      else if (!settleTimer) {
        settleTimer = setTimeout(settlePass, settleDelayMs);
        settleTimer.unref();
      }
    },
    close: () => {
      closed = true;
      clearTimeout(settleTimer);
      return task.close();
    },
    metrics: () => ({ ...counters }),
  };
}
