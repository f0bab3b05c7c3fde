import { type Logger, silentLogger } from '@x/kernel';
import type { RunStore } from '@x/run-store';
import { periodicTask } from './periodic-task.js';
import { DEFAULT_SHARD_JOB_OPTIONS, type ShardJobOptions, type ShardQueue } from './shard-queue.js';
import { ShardWorkerError } from './shard-worker-error.js';
import { failUnusableRun, storedShardJob } from './stored-shard-job.js';
import type { ShardJobData } from './test-schemas.js';

/** The slice of `RunStore` the enqueuer uses. */
export type EnqueuerStore = Pick<
  RunStore,
  'claimEnqueues' | 'markEnqueued' | 'releaseEnqueues' | 'transition'
>;

export interface ShardEnqueuerOptions {
  store: EnqueuerStore;
  queue: Pick<ShardQueue, 'add'>;
  /**
   * The run events' log (`RunEvents.begin`): each run's event history is begun (its first
   * epoch, ids from 1) before its shards are queued, so a history created later without it
   * is known to be a rebuilt one. Optional: without it every history starts high.
   */
  events?: { begin(runId: string): Promise<void> };
  /** Attempts and backoff of every job. Default {@link DEFAULT_SHARD_JOB_OPTIONS}. */
  jobOptions?: ShardJobOptions;
  /**
   * Pause between timed passes. Default 5 s: the safety net only, since `wake` runs a pass
   * when a run is created and when the queue's connection is ready again.
   */
  intervalMs?: number;
  /** A claim older than this is presumed dead (its process was killed) and taken over. Default 30 s. */
  leaseMs?: number;
  /** Runs claimed per round. Default 50. */
  batchSize?: number;
  logger?: Logger;
}

export interface ShardEnqueuerMetrics {
  passes: number;
  /** Runs whose shards this process handed to the queue. */
  runsEnqueued: number;
  shardsEnqueued: number;
  /** Runs failed because a stored shard could not be turned into a job. */
  unusableRuns: number;
  /** Passes that threw (queue or database unreachable); the claims go back, the timer backs off. */
  errors: number;
}

export interface ShardEnqueuer {
  /** Starts the timed passes (idempotent); the first runs at once. */
  start(): void;
  /**
   * Hands every run waiting in the outbox to the queue now (or right after the pass in
   * flight); answers when done. Never rejects: a failure leaves the runs for the next pass.
   */
  wake(): Promise<void>;
  /** Stops the timer and waits for the pass in flight. */
  close(): Promise<void>;
  metrics(): ShardEnqueuerMetrics;
}

/**
 * The enqueue side of the outbox: claims the runs PostgreSQL holds but the queue does not yet
 * (under a lease, `skip locked`, so every api and worker can run one), adds one job per shard
 * with the idempotent id `${runId}-${shardIndex}`, then marks the runs enqueued. A queue that
 * refuses (Redis down) releases the claims; the runs wait, `queued`, and start when a later
 * pass gets through. A process killed between add and mark leaves a claim that expires; the
 * next enqueuer adds the same ids again, which the queue ignores.
 *
 * @example
 * const enqueuer = createShardEnqueuer({ store, queue, logger });
 * enqueuer.start();
 * redis.on('ready', () => void enqueuer.wake());
 */
export function createShardEnqueuer(opts: ShardEnqueuerOptions): ShardEnqueuer {
  const { store, queue } = opts;
  const jobOptions = opts.jobOptions ?? DEFAULT_SHARD_JOB_OPTIONS;
  const intervalMs = opts.intervalMs ?? 5_000;
  const leaseMs = opts.leaseMs ?? 30_000;
  const batchSize = opts.batchSize ?? 50;
  const logger = opts.logger ?? silentLogger;
  for (const [name, v] of [
    ['intervalMs', intervalMs],
    ['leaseMs', leaseMs],
    ['batchSize', batchSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new ShardWorkerError(
        'invalid_option',
        `shard enqueuer: ${name} must be an integer >= 1, got ${v}`,
      );
  }
  const counters: ShardEnqueuerMetrics = {
    passes: 0,
    runsEnqueued: 0,
    shardsEnqueued: 0,
    unusableRuns: 0,
    errors: 0,
  };
  let closed = false;

  /** One round: claim, add, mark. Answers how many runs it claimed. */
  const round = async (): Promise<number> => {
    const claims = await store.claimEnqueues({ limit: batchSize, leaseMs });
    if (claims.length === 0) return 0;
    const jobs: ShardJobData[] = [];
    const usable: string[] = [];
    for (const claim of claims) {
      const built = claim.shards.map((shard) => storedShardJob(claim, shard));
      const bad = built.find((b) => 'problem' in b);
      if (bad && 'problem' in bad) {
        counters.unusableRuns++;
        logger.error({ runId: claim.runId, problem: bad.problem }, 'run cannot be enqueued');
        await failUnusableRun(store, claim.runId, bad.problem);
        continue;
      }
      for (const b of built) if ('data' in b) jobs.push(b.data);
      usable.push(claim.runId);
    }
    try {
      // Before any job exists, so before any of the run's events can.
      if (opts.events) await Promise.all(usable.map((runId) => opts.events!.begin(runId)));
      if (jobs.length > 0) await queue.add(jobs, jobOptions);
    } catch (err) {
      // Given back at once, so the pass that runs when the queue is back need not wait out the lease.
      await store.releaseEnqueues(usable).catch((releaseErr: unknown) => {
        logger.warn({ err: releaseErr }, 'enqueue claims not released; they expire');
      });
      throw err;
    }
    await store.markEnqueued(usable);
    counters.runsEnqueued += usable.length;
    counters.shardsEnqueued += jobs.length;
    return claims.length;
  };

  const task = periodicTask({
    intervalMs,
    run: async () => {
      counters.passes++;
      // Drain a backlog (an outage's worth of runs) in rounds, but never forever in one pass.
      for (let i = 0; i < 100 && !closed; i++) {
        if ((await round()) < batchSize) return;
      }
    },
    onError: (err, failures) => {
      counters.errors++;
      logger.warn({ err, failures }, 'enqueue pass failed; runs wait in the outbox');
    },
  });

  return {
    start: () => task.start(),
    wake: () => task.wake(),
    async close() {
      closed = true;
      await task.close();
    },
    metrics: () => ({ ...counters }),
  };
}
