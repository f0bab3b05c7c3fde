import type { Cluster, Redis } from 'ioredis';
import type { RedisErrorReporter } from './redis-error-reporter.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys } from './redis-queue-keys.js';

/** A job a consumer holds, as far as its lease is concerned: its partition and stream entry. */
export interface LeasedEntry {
  readonly partition: number;
  readonly delivery: { readonly entryId: string };
}

export interface LeaseRenewalSettings {
  readonly redis: Redis | Cluster;
  readonly partitions: readonly RedisQueueKeys[];
  /** The consumer's name in the group: the claims keep the entries its own. */
  readonly consumer: string;
  readonly lockDurationMs: number;
  /** The jobs the consumer holds now (read at each renewal). */
  readonly held: ReadonlyMap<string, LeasedEntry>;
  readonly redisError: RedisErrorReporter;
}

export interface LeaseRenewal {
  /** Stops renewing (the consumer has settled or given back its jobs). */
  stop(): void;
}

/**
 * Keeps the leases of a consumer's jobs: a lease is the entry's idle time in the group, and a
 * job not renewed for `lockDurationMs` is re-issued by a reaper (`queueMaintenance`).
 * Renewed every third of that, so one late or failed renewal does not cost a lease. The timer
 * is unref'd.
 */
export function leaseRenewal({
  redis,
  partitions,
  consumer,
  lockDurationMs,
  held,
  redisError,
}: LeaseRenewalSettings): LeaseRenewal {
  // One XCLAIM per partition for every job held there: resets their idle time (the lease)
  // without counting a delivery.
  const renew = setInterval(
    () => {
      const eids = partitions.map((): string[] => []);
      for (const h of held.values()) eids[h.partition]!.push(h.delivery.entryId);
      eids.forEach((ids, p) => {
        if (ids.length === 0) return;
        redis
          .call('XCLAIM', partitions[p]!.stream, REDIS_QUEUE_GROUP, consumer, 0, ...ids, 'JUSTID')
          .catch(redisError('shard queue: renewing leases failed'));
      });
    },
    Math.max(1, Math.floor(lockDurationMs / 3)),
  );
  renew.unref();
  return { stop: () => clearInterval(renew) };
}
