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
   * Pause between timed passes. Default 250 ms; `wake` runs one besides, on run creation and
   * on every shard end of this process.
   */
  intervalMs?: number;
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
}

export interface FairDispatcher {
  /** Starts the timed passes (idempotent); the first runs at once. */
  start(): void;
  /** A pass now (or right after the one in flight); never rejects. */
  wake(): Promise<void>;
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
 * const worker = createShardWorker({ ..., onShardSettled: () => void dispatcher.wake() });
 */
export function createFairDispatcher(opts: FairDispatcherOptions): FairDispatcher {
  const { store, queue } = opts;
  const jobOptions = opts.jobOptions ?? DEFAULT_SHARD_JOB_OPTIONS;
  const intervalMs = opts.intervalMs ?? 250;
  const logger = opts.logger ?? silentLogger;
  const query = {
    window: opts.limits?.window ?? 16,
    maxRunningShards: opts.limits?.maxRunningShards ?? null,
    overrides: opts.limits?.overrides ?? [],
  };
  for (const [name, v] of [
    ['intervalMs', intervalMs],
    ['window', query.window],
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

  const task = periodicTask({
    intervalMs,
    run: async () => {
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

  return {
    start: () => task.start(),
    wake: () => task.wake(),
    close: () => task.close(),
    metrics: () => ({ ...counters }),
  };
}
