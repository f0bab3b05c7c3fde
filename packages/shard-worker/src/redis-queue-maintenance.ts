import type { Logger } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import type { RedisErrorReporter } from './redis-error-reporter.js';
import type { RedisQueueCounters } from './redis-queue-counters.js';
import { payloadData } from './redis-queue-entry.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys } from './redis-queue-keys.js';
import { MAINTAIN_LUA } from './redis-queue-lua.js';
import { luaScript, runScript } from './redis-script.js';

const MAINTAIN = luaScript(MAINTAIN_LUA, 4);
/** Retries promoted and stalled entries re-issued per maintenance call. */
const MAINTAIN_LIMIT = 100;

export interface QueueMaintenanceSettings {
  readonly redis: Redis | Cluster;
  readonly partitions: readonly RedisQueueKeys[];
  /** The consumer's name in the group (the reaper named in the script). */
  readonly consumer: string;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly keepFailed: number;
  readonly counters: RedisQueueCounters;
  readonly logger: Logger;
  /** Aborted as the consumer closes: no more passes are scheduled for retries. */
  readonly signal: AbortSignal;
  readonly redisError: RedisErrorReporter;
  /** Fails a job the queue gives up on (stalled more than `maxStalledCount` times). */
  readonly abandon: (id: string, data: unknown, reason: string) => void;
}

export interface QueueMaintenance {
  /** A pass on one partition in `delayMs`: when a retry just settled there comes due. */
  later(partition: number, delayMs: number): void;
  /** Stops the periodic passes and the scheduled ones. */
  close(): void;
}

/**
 * The reaper of a consumer: every `stalledIntervalMs` a maintenance script per partition
 * promotes due retries and re-issues the jobs whose lease expired (any consumer may do it for
 * all), failing those that stalled too often. The timers are unref'd.
 */
export function queueMaintenance(settings: QueueMaintenanceSettings): QueueMaintenance {
  const { redis, partitions, counters, logger, signal, redisError, abandon } = settings;
  const timers = new Set<NodeJS.Timeout>();

  /** One pass on a partition; answers when its earliest waiting retry comes due (ms). */
  const maintain = async (p: number): Promise<number | undefined> => {
    const keys = partitions[p]!;
    const reply = await runScript(
      redis,
      MAINTAIN,
      [keys.stream, keys.jobs, keys.delayed, keys.failed],
      [
        REDIS_QUEUE_GROUP,
        settings.consumer,
        settings.lockDurationMs,
        Date.now(),
        settings.maxStalledCount,
        settings.keepFailed,
        MAINTAIN_LIMIT,
      ],
    );
    if (!Array.isArray(reply) || reply.length < 4 || !Array.isArray(reply[3])) {
      counters.redisErrors++;
      logger.warn({ reply }, 'shard queue: unexpected maintenance reply');
      return undefined;
    }
    counters.malformed += Number(reply[0]);
    counters.promoted += Number(reply[1]);
    counters.stalled += Number(reply[2]);
    const gone = reply[3] as unknown[];
    for (let i = 0; i + 1 < gone.length; i += 2) {
      abandon(
        String(gone[i]),
        payloadData(String(gone[i + 1])),
        `job stalled more than ${settings.maxStalledCount} times`,
      );
    }
    // nil: no retry waits.
    const next = reply[4] === null || reply[4] === undefined ? Number.NaN : Number(reply[4]);
    return Number.isFinite(next) ? next : undefined;
  };
  const maintainAll = () => {
    for (let p = 0; p < partitions.length; p++)
      maintain(p).catch(redisError('shard queue: maintenance failed'));
  };
  const sweep = setInterval(maintainAll, settings.stalledIntervalMs);
  sweep.unref();
  // A first maintenance pass at once: retries and expired leases left by a previous fleet.
  maintainAll();

  /** Per partition, when the one pending follow-up pass (below) runs: a chain of one. */
  const followUps = new Map<number, number>();

  /** A pass on `p` in `delayMs`; `followUpAt` marks the partition's follow-up pass. */
  const schedule = (p: number, delayMs: number, followUpAt?: number) => {
    // A closed consumer leaves its retries to the others' periodic maintenance.
    if (signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (followUpAt !== undefined && followUps.get(p) === followUpAt) followUps.delete(p);
      maintain(p)
        .then((nextDue) => {
          // A timer may fire a millisecond before the script's clock says the retry is due
          // (the loop's cached time, two clocks' rounding), and that retry then waited for the
          // sweep, `stalledIntervalMs` later (seen in CI: a 10 ms backoff not redelivered in
          // 10 s). One more pass when the earliest retry comes due before the sweep would;
          // one such pass per partition at a time, so many waiting retries make one chain.
          if (nextDue === undefined) return;
          const at = Math.max(Date.now() + 1, nextDue + 1);
          if (at - Date.now() >= settings.stalledIntervalMs) return;
          if ((followUps.get(p) ?? Number.POSITIVE_INFINITY) <= at) return;
          followUps.set(p, at);
          schedule(p, at - Date.now(), at);
        })
        .catch(redisError('shard queue: promoting retries failed'));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  };

  return {
    later: (p, delayMs) => schedule(p, delayMs),
    close() {
      clearInterval(sweep);
      for (const t of timers) clearTimeout(t);
    },
  };
}
