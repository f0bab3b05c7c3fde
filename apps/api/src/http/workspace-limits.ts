import type { Cluster, Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
} from 'rate-limiter-flexible';

/** Per-workspace request limits (`0` turns one off). */
export interface RateLimitSettings {
  /** `RATE_LIMIT_CREATES_PER_MIN`: `POST /runs` per workspace per minute. */
  readonly createsPerMinute: number;
  /** `RATE_LIMIT_REQUESTS_PER_S`: every `/api/v1` request (stream opens included) per second. */
  readonly requestsPerSecond: number;
}

/** The limiters the HTTP layer consults, keyed by workspace; undefined when a limit is off. */
export interface WorkspaceLimits {
  readonly creates: RateLimiterAbstract | undefined;
  readonly requests: RateLimiterAbstract | undefined;
}

/**
 * Builds the limiters. With Redis (a fleet) the counts are shared by every api replica; while
 * Redis is not ready each replica falls back to counting in its own memory (the insurance
 * limiter), so an outage neither blocks requests nor waits on a reconnecting client. Embedded,
 * memory is the whole truth.
 */
export function workspaceLimits(
  settings: RateLimitSettings,
  store: { redis: Redis | Cluster; prefix: string } | undefined,
): WorkspaceLimits {
  const make = (name: string, points: number, duration: number) => {
    if (points === 0) return undefined;
    const memory = new RateLimiterMemory({ points, duration, keyPrefix: name });
    if (!store) return memory;
    return new RateLimiterRedis({
      storeClient: store.redis,
      // One key per workspace and window: a single slot, so it works on a cluster as well.
      keyPrefix: `${store.prefix}:ratelimit:${name}`,
      points,
      duration,
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory,
    });
  };
  return {
    creates: make('creates', settings.createsPerMinute, 60),
    requests: make('requests', settings.requestsPerSecond, 1),
  };
}
