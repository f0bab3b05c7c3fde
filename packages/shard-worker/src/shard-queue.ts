import type { ShardJobData } from './test-schemas.js';

/** How the queue retries one shard job. */
export interface ShardJobOptions {
  /** Total attempts per shard, the first included. */
  attempts: number;
  /** Exponential backoff base: the retry after attempt n waits `backoffMs * 2^(n-1)`. */
  backoffMs: number;
}

/**
 * What a shard job gets unless told otherwise: 3 attempts ride out a flaky host or a dead
 * worker; the retries wait 1 s, then 2 s.
 */
export const DEFAULT_SHARD_JOB_OPTIONS: ShardJobOptions = { attempts: 3, backoffMs: 1000 };

/** One delivery of a shard job to a processor. */
export interface ShardJob {
  /** `${runId}-${shardIndex}`: BullMQ ids may not contain ':'. */
  readonly id: string;
  /** The payload as stored; the processor validates it (anything may have written it). */
  readonly data: unknown;
  /** 1-based attempt number: failed attempts so far plus one. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /**
   * True when this job was started before: a retry, or a redelivery after its worker died or
   * shut down. Anything the earlier start wrote for this shard may need undoing.
   */
  readonly redelivered: boolean;
  /** This delivery's own signal: aborted by `cancel`, by `ShardConsumer.cancel`, or at shutdown. */
  readonly signal: AbortSignal;
  /** Aborts `signal` through the queue's own mechanism (BullMQ: `Worker.cancelJob`). */
  cancel(reason: string): void;
}

export type ShardProcessor = (job: ShardJob) => Promise<void>;

/** A job that failed without the processor running (e.g. it stalled too many times). */
export interface AbandonedShardJob {
  id: string;
  data: unknown;
  reason: string;
}

export interface ShardConsumerOptions {
  /** Jobs processed at once by this consumer. Default 1. */
  concurrency?: number;
  /** Called when the queue fails a job on its own, so the run is not left running forever. */
  onAbandoned?: (job: AbandonedShardJob) => void | Promise<void>;
}

export interface ShardConsumer {
  /** Jobs currently in the processor. */
  readonly active: number;
  /** Aborts an in-flight job's signal; false when this consumer is not running it. */
  cancel(jobId: string, reason: string): boolean;
  /**
   * Stops taking jobs and lets in-flight ones finish for up to `deadlineMs`; then aborts them
   * with the shutdown reason and puts them back for another worker, without spending an attempt.
   */
  close(deadlineMs?: number): Promise<void>;
}

/** The reason a consumer's shutdown aborts in-flight jobs with: not a user abort. */
export const SHUTDOWN_REASON = 'worker shutdown';

/**
 * Shard jobs behind one interface: BullMQ or our own scripts on Redis (distributed), or
 * in-process (embedded).
 * Every implementation passes the same contract suite.
 */
export interface ShardQueue {
  readonly kind: 'bullmq' | 'memory' | 'redis';
  /** Adds one job per shard; a job whose id already exists is left alone. */
  add(jobs: readonly ShardJobData[], options: ShardJobOptions): Promise<void>;
  /**
   * Those of `jobIds` the queue holds in no state — never added, completed and removed, or
   * lost with the queue's storage (Redis restarted empty). A job waiting, delayed, active
   * (locked by a worker) or failed and kept is held. The repair sweep's check.
   */
  missing(jobIds: readonly string[]): Promise<string[]>;
  /** Removes a run's shard jobs that are waiting or delayed (not in flight); returns how many. */
  removeWaiting(runId: string, shardCount: number): Promise<number>;
  /** Starts processing jobs. */
  consume(processor: ShardProcessor, options?: ShardConsumerOptions): ShardConsumer;
  /** Closes every consumer (deadline 0) and releases the queue's connections and timers. */
  close(): Promise<void>;
}

export function shardJobId(runId: string, shardIndex: number): string {
  return `${runId}-${shardIndex}`;
}
