import { randomUUID } from 'node:crypto';
import { type Logger, silentLogger } from '@x/kernel';
import type { LiveShard, RunStore } from '@x/run-store';
import { periodicTask } from './periodic-task.js';
import {
  DEFAULT_SHARD_JOB_OPTIONS,
  type ShardJobOptions,
  type ShardQueue,
  shardJobId,
} from './shard-queue.js';
import { ShardWorkerError } from './shard-worker-error.js';
import { failUnusableRun, storedShardJob } from './stored-shard-job.js';
import type { ShardJobData } from './test-schemas.js';

/** The slice of `RunStore` the repair sweep uses. */
export type RepairStore = Pick<RunStore, 'liveShards' | 'tryLease' | 'releaseLease' | 'transition'>;

/** The lease that makes one instance of the fleet the repairer. */
export const SHARD_REPAIR_LEASE = 'shard-repair';

export interface ShardRepairOptions {
  store: RepairStore;
  queue: Pick<ShardQueue, 'add' | 'missing'>;
  /** Attempts and backoff of every job enqueued again. Default {@link DEFAULT_SHARD_JOB_OPTIONS}. */
  jobOptions?: ShardJobOptions;
  /** Pause between sweeps. Default 30 s; `queueReady` sweeps at once besides. */
  intervalMs?: number;
  /**
   * How long one sweep makes this instance the repairer. Default 3 × `intervalMs`: the holder
   * renews it every sweep; when it dies, another instance takes over after this.
   */
  leaseMs?: number;
  /** This instance's name in the lease. Default a random UUID. */
  holder?: string;
  /** Shards checked per page. Default 500. */
  pageSize?: number;
  logger?: Logger;
}

export interface ShardRepairMetrics {
  /** Sweeps this instance ran as the repairer. */
  sweeps: number;
  /** Sweeps skipped because another instance holds the lease. */
  notLeader: number;
  /** Shards the queue had lost that this instance enqueued again. */
  shardsReenqueued: number;
  /** Runs with at least one shard enqueued again, once per sweep. */
  runsRepaired: number;
  /** Runs failed because a lost shard's stored input could not be turned into a job. */
  unusableRuns: number;
  /** Sweeps that threw (queue or database unreachable); the timer backs off. */
  errors: number;
  /**
   * From the queue's connection becoming ready again to the end of the repair sweep it
   * triggered, in ms, the last time this instance was the repairer then; -1 before that.
   */
  lastRecoveryMs: number;
}

export interface RepairOutcome {
  /** False when another instance holds the lease: nothing was checked. */
  leader: boolean;
  shards: number;
  runs: number;
}

export interface ShardRepair {
  /** Starts the timed sweeps (idempotent); the first runs at once. */
  start(): void;
  /** One sweep now (or right after the one running); never rejects. */
  sweep(): Promise<void>;
  /**
   * The queue's connection is ready again (ioredis `ready`): sweeps at once and times the
   * recovery (`lastRecoveryMs`).
   */
  queueReady(): void;
  /** Stops the sweeps, waits for the one in flight and gives the lease up. */
  close(): Promise<void>;
  metrics(): ShardRepairMetrics;
  /** The last sweep's outcome (tests, logs); undefined before the first. */
  readonly lastOutcome: RepairOutcome | undefined;
}

/**
 * The repair sweep: finds the shards PostgreSQL says must run — not completed, of an enqueued
 * run still `queued` or `running` (an aborted run never qualifies) — that the queue holds in no
 * state, as after Redis restarted empty, and enqueues them again under their usual ids. One
 * instance of the fleet acts (a lease in PostgreSQL); every api and worker runs one, so the
 * role moves when its holder dies. A shard a live worker still executes (its lock went with
 * Redis) may then run twice; the store's exactly-once completion keeps the counts exact.
 *
 * @example
 * const repair = createShardRepair({ store, queue, intervalMs: 30_000, logger });
 * repair.start();
 * redis.on('ready', () => repair.queueReady());
 */
export function createShardRepair(opts: ShardRepairOptions): ShardRepair {
  const { store, queue } = opts;
  const jobOptions = opts.jobOptions ?? DEFAULT_SHARD_JOB_OPTIONS;
  const intervalMs = opts.intervalMs ?? 30_000;
  const leaseMs = opts.leaseMs ?? intervalMs * 3;
  const pageSize = opts.pageSize ?? 500;
  const holder = opts.holder ?? randomUUID();
  const logger = opts.logger ?? silentLogger;
  for (const [name, v] of [
    ['intervalMs', intervalMs],
    ['leaseMs', leaseMs],
    ['pageSize', pageSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new ShardWorkerError(
        'invalid_option',
        `shard repair: ${name} must be an integer >= 1, got ${v}`,
      );
  }
  const counters: ShardRepairMetrics = {
    sweeps: 0,
    notLeader: 0,
    shardsReenqueued: 0,
    runsRepaired: 0,
    unusableRuns: 0,
    errors: 0,
    lastRecoveryMs: -1,
  };
  let lastOutcome: RepairOutcome | undefined;
  /** When the queue's connection last became ready, until a sweep after it completes. */
  let readyAt: number | undefined;

  /** Enqueues the lost shards of one page again (adding their runs to `runs`); answers how many. */
  const restore = async (lost: LiveShard[], runs: Set<string>, failed: Set<string>) => {
    const jobs: ShardJobData[] = [];
    for (const shard of lost) {
      if (failed.has(shard.runId)) continue;
      const built = storedShardJob(shard, shard);
      if ('problem' in built) {
        failed.add(shard.runId);
        counters.unusableRuns++;
        logger.error(
          { runId: shard.runId, problem: built.problem },
          'lost shard cannot be enqueued',
        );
        await failUnusableRun(store, shard.runId, built.problem);
        continue;
      }
      jobs.push(built.data);
    }
    const kept = jobs.filter((j) => !failed.has(j.runId));
    if (kept.length === 0) return 0;
    await queue.add(kept, jobOptions);
    for (const j of kept) runs.add(j.runId);
    return kept.length;
  };

  const sweepOnce = async (): Promise<RepairOutcome> => {
    if (!(await store.tryLease(SHARD_REPAIR_LEASE, holder, leaseMs))) {
      counters.notLeader++;
      return { leader: false, shards: 0, runs: 0 };
    }
    counters.sweeps++;
    const runs = new Set<string>();
    const failed = new Set<string>();
    let shards = 0;
    let after: { runId: string; shardIndex: number } | undefined;
    for (;;) {
      const page = await store.liveShards({ limit: pageSize, after });
      if (page.length === 0) break;
      const ids = page.map((s) => shardJobId(s.runId, s.shardIndex));
      const missing = new Set(await queue.missing(ids));
      shards += await restore(
        page.filter((_, i) => missing.has(ids[i]!)),
        runs,
        failed,
      );
      if (page.length < pageSize) break;
      const last = page.at(-1)!;
      after = { runId: last.runId, shardIndex: last.shardIndex };
    }
    counters.shardsReenqueued += shards;
    counters.runsRepaired += runs.size;
    if (shards > 0) {
      logger.warn({ shards, runs: runs.size }, 'enqueued again the shards the queue had lost');
    }
    return { leader: true, shards, runs: runs.size };
  };

  const task = periodicTask({
    intervalMs,
    run: async () => {
      const since = readyAt;
      lastOutcome = await sweepOnce();
      if (since !== undefined && readyAt === since) {
        readyAt = undefined;
        if (lastOutcome.leader) {
          counters.lastRecoveryMs = Date.now() - since;
          logger.info(
            { ms: counters.lastRecoveryMs, ...lastOutcome },
            'queue repaired after reconnect',
          );
        }
      }
    },
    onError: (err, failures) => {
      counters.errors++;
      logger.warn({ err, failures }, 'shard repair sweep failed; backing off');
    },
  });

  return {
    start: () => task.start(),
    sweep: () => task.wake(),
    queueReady() {
      readyAt = Date.now();
      void task.wake();
    },
    async close() {
      await task.close();
      // Handed over at once on a graceful stop, instead of after the lease runs out.
      await store.releaseLease(SHARD_REPAIR_LEASE, holder).catch((err: unknown) => {
        logger.warn({ err }, 'repair lease not released; it expires');
      });
    },
    metrics: () => ({ ...counters }),
    get lastOutcome() {
      return lastOutcome;
    },
  };
}
