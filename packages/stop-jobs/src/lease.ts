import type { Logger } from '@x/kernel';
import type { StopJobsMetrics } from './metrics.js';
import { errorMessage } from './redis-replies.js';
import type { StopJobsRedis } from './stream-names.js';

export interface Lease {
  hold(entries: readonly { id: string }[]): void;
  release(entries: readonly { id: string }[]): void;
  close(): void;
}

/**
 * Keeps the entries this consumer holds (the batch in hand and a prefetched one) from
 * looking idle: every `claimMinIdleMs / 3` it re-claims them to itself with
 * `XCLAIM … JUSTID`, which resets their idle time without counting a delivery. So a slow
 * batch is not claimed and handled a second time by another consumer. Entries another
 * consumer claimed less than `claimMinIdleMs / 6` ago are left to it.
 */
export function createLease(opts: {
  redis: Pick<StopJobsRedis, 'call'>;
  stream: string;
  group: string;
  consumer: string;
  claimMinIdleMs: number;
  metrics: StopJobsMetrics;
  logger: Logger;
}): Lease {
  const held = new Set<string>();
  const everyMs = Math.max(1, Math.floor(opts.claimMinIdleMs / 3));
  const minIdleMs = Math.floor(opts.claimMinIdleMs / 6);
  let renewing = false;

  const renew = async () => {
    if (held.size === 0 || renewing) return;
    renewing = true;
    try {
      await opts.redis.call('XCLAIM', [
        opts.stream,
        opts.group,
        opts.consumer,
        minIdleMs,
        ...held,
        'JUSTID',
      ]);
      opts.metrics.leaseRenewals++;
    } catch (error) {
      opts.metrics.errors.redis++;
      opts.logger.warn(
        { err: errorMessage(error), held: held.size },
        'could not renew the lease on held stop jobs',
      );
    } finally {
      renewing = false;
    }
  };
  const timer = setInterval(() => void renew(), everyMs);
  timer.unref();

  return {
    hold(entries) {
      for (const { id } of entries) held.add(id);
    },
    release(entries) {
      for (const { id } of entries) held.delete(id);
    },
    close() {
      clearInterval(timer);
      held.clear();
    },
  };
}
