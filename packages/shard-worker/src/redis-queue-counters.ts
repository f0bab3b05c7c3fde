/** What the Redis shard queue counts, per process (all its consumers together). */
export interface RedisQueueCounters {
  /** Stream entries or delayed records that were not a job `add` writes: dropped. */
  malformed: number;
  /** Retries moved from their backoff to the stream. */
  promoted: number;
  /** Jobs whose lease expired and that a reaper re-issued (redelivered, attempt unchanged). */
  stalled: number;
  /** Jobs failed by the queue itself (too many stalls, or a malformed entry naming a job). */
  abandoned: number;
  /** Redis commands that failed (the loops and timers retry with backoff). */
  redisErrors: number;
}

export function createRedisQueueCounters(): RedisQueueCounters {
  return { malformed: 0, promoted: 0, stalled: 0, abandoned: 0, redisErrors: 0 };
}
