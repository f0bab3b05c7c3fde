import { randomUUID } from 'node:crypto';
import { type Logger, silentLogger, sleep } from '@x/kernel';
import type { DeletedRows, RunStore } from '@x/run-store';
import { periodicTask } from './periodic-task.js';
import { ShardWorkerError } from './shard-worker-error.js';

/** The slice of `RunStore` the retention sweep uses. */
export type RetentionStore = Pick<RunStore, 'deleteFinishedRuns' | 'tryLease' | 'releaseLease'>;

/** The lease that makes one instance of the fleet the retention sweeper. */
export const RETENTION_LEASE = 'retention';

const DAY_MS = 86_400_000;

export interface RetentionSweeperOptions {
  store: RetentionStore;
  /** Runs that finished more than this many days ago are deleted (`RUN_RETENTION_DAYS`), ≥ 1. */
  retentionDays: number;
  /** Pause between sweeps (`RETENTION_SWEEP_INTERVAL_MS`). Default 1 h. */
  intervalMs?: number;
  /** Runs per batch (one statement). Default 500; results cap it further (see `maxResults`). */
  batchSize?: number;
  /** Result rows per batch, about. Default 20 000: a batch of large runs stays short. */
  maxResults?: number;
  /** Pause between batches, so the sweep yields the database to the hot path. Default 100 ms. */
  pauseMs?: number;
  /**
   * Batches per sweep. Default 200 (100 000 runs at most): a backlog (retention just turned
   * on) is worked off over several sweeps instead of in one long one.
   */
  maxBatches?: number;
  /**
   * How long one sweep makes this instance the sweeper; renewed before every batch, so a long
   * sweep keeps it. Default `intervalMs` + 1 min: the holder keeps the role across sweeps, and
   * another instance takes over about one interval after it died.
   */
  leaseMs?: number;
  /** This instance's name in the lease. Default a random UUID. */
  holder?: string;
  /** The clock the cutoff is taken from. Default `Date.now`. */
  now?: () => number;
  logger?: Logger;
}

export interface RetentionMetrics {
  /** Sweeps this instance ran as the sweeper. */
  sweeps: number;
  /** Sweeps skipped because another instance holds the lease. */
  notLeader: number;
  /** Sweeps that stopped at `maxBatches` with more to delete. */
  cappedSweeps: number;
  batches: number;
  runsDeleted: number;
  shardsDeleted: number;
  resultsDeleted: number;
  idempotencyKeysDeleted: number;
  /** Sweeps that threw (database unreachable); the timer backs off. */
  errors: number;
  /** The last sweep's duration (as the sweeper), ms; -1 before the first. */
  lastSweepMs: number;
  /** Sum of the sweeps' durations, ms (with `sweeps`: the mean). */
  sweepMsTotal: number;
}

export interface SweepOutcome extends DeletedRows {
  /** False when another instance holds the lease: nothing was deleted. */
  leader: boolean;
  batches: number;
  /** True when the sweep stopped at `maxBatches` (or lost the lease) with runs left to delete. */
  more: boolean;
}

export interface RetentionSweeper {
  /** Starts the timed sweeps (idempotent); the first runs at once. */
  start(): void;
  /** One sweep now (or right after the one running); never rejects. */
  sweep(): Promise<void>;
  /** Stops the sweeps (the one in flight stops after its batch) and gives the lease up. */
  close(): Promise<void>;
  metrics(): RetentionMetrics;
  /** The last sweep's outcome (tests, logs); undefined before the first. */
  readonly lastOutcome: SweepOutcome | undefined;
}

function intOption(name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min)
    throw new ShardWorkerError(
      'invalid_option',
      `retention sweeper: ${name} must be an integer >= ${min}, got ${v}`,
    );
  return v;
}

/**
 * Deletes finished runs older than `retentionDays`, with their shards, results, outbox state
 * and idempotency keys, in bounded batches with a pause between them, so the sweep never holds
 * the database for long. One instance of the fleet acts (a lease in PostgreSQL, renewed before
 * each batch); every replica runs one, so the role moves when its holder dies. Live runs are
 * never deleted, however old.
 *
 * @example
 * const retention = createRetentionSweeper({ store, retentionDays: 30, logger });
 * retention.start();
 * // on shutdown
 * await retention.close();
 */
export function createRetentionSweeper(opts: RetentionSweeperOptions): RetentionSweeper {
  const { store } = opts;
  const retentionMs = intOption('retentionDays', opts.retentionDays) * DAY_MS;
  const intervalMs = intOption('intervalMs', opts.intervalMs ?? 3_600_000);
  const batchSize = intOption('batchSize', opts.batchSize ?? 500);
  const maxResults = intOption('maxResults', opts.maxResults ?? 20_000);
  const pauseMs = intOption('pauseMs', opts.pauseMs ?? 100, 0);
  const maxBatches = intOption('maxBatches', opts.maxBatches ?? 200);
  const leaseMs = intOption('leaseMs', opts.leaseMs ?? intervalMs + 60_000);
  const holder = opts.holder ?? randomUUID();
  const now = opts.now ?? Date.now;
  const logger = opts.logger ?? silentLogger;
  const stop = new AbortController();
  const counters: RetentionMetrics = {
    sweeps: 0,
    notLeader: 0,
    cappedSweeps: 0,
    batches: 0,
    runsDeleted: 0,
    shardsDeleted: 0,
    resultsDeleted: 0,
    idempotencyKeysDeleted: 0,
    errors: 0,
    lastSweepMs: -1,
    sweepMsTotal: 0,
  };
  let lastOutcome: SweepOutcome | undefined;

  const sweepOnce = async (): Promise<SweepOutcome> => {
    const out: SweepOutcome = {
      leader: false,
      batches: 0,
      more: false,
      runs: 0,
      shards: 0,
      results: 0,
      idempotencyKeys: 0,
    };
    if (!(await store.tryLease(RETENTION_LEASE, holder, leaseMs))) {
      counters.notLeader++;
      return out;
    }
    out.leader = true;
    counters.sweeps++;
    const started = performance.now();
    // One cutoff per sweep: runs that age past it meanwhile wait for the next sweep.
    const finishedBefore = new Date(now() - retentionMs);
    try {
      for (;;) {
        const d = await store.deleteFinishedRuns({ finishedBefore, limit: batchSize, maxResults });
        out.batches++;
        counters.batches++;
        out.runs += d.runs;
        out.shards += d.shards;
        out.results += d.results;
        out.idempotencyKeys += d.idempotencyKeys;
        counters.runsDeleted += d.runs;
        counters.shardsDeleted += d.shards;
        counters.resultsDeleted += d.results;
        counters.idempotencyKeysDeleted += d.idempotencyKeys;
        if (d.runs === 0) break;
        if (out.batches >= maxBatches || stop.signal.aborted) {
          out.more = true;
          break;
        }
        // Yield the connection (PGlite has one) and the row locks to the hot path.
        await sleep(pauseMs, { signal: stop.signal }).catch(() => {});
        if (stop.signal.aborted) {
          out.more = true;
          break;
        }
        // Still the sweeper? A holder that lost the lease (a long pause) leaves the rest.
        if (!(await store.tryLease(RETENTION_LEASE, holder, leaseMs))) {
          out.more = true;
          break;
        }
      }
    } finally {
      const ms = Math.round(performance.now() - started);
      counters.lastSweepMs = ms;
      counters.sweepMsTotal += ms;
    }
    if (out.more && out.batches >= maxBatches) counters.cappedSweeps++;
    if (out.runs > 0) {
      logger.info(
        { ...out, ms: counters.lastSweepMs, finishedBefore: finishedBefore.toISOString() },
        'retention: deleted finished runs',
      );
    }
    return out;
  };

  const task = periodicTask({
    intervalMs,
    run: async () => {
      lastOutcome = await sweepOnce();
    },
    onError: (err, failures) => {
      counters.errors++;
      logger.warn({ err, failures }, 'retention sweep failed; backing off');
    },
  });

  return {
    start: () => task.start(),
    sweep: () => task.wake(),
    async close() {
      stop.abort();
      await task.close();
      await store.releaseLease(RETENTION_LEASE, holder).catch((err: unknown) => {
        logger.warn({ err }, 'retention lease not released; it expires');
      });
    },
    metrics: () => ({ ...counters }),
    get lastOutcome() {
      return lastOutcome;
    },
  };
}
