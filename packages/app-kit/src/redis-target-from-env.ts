import { ConfigError } from './config-error.js';
import type { RedisTarget } from './redis-target.js';

/**
 * The Redis a fleet uses, from the parsed `REDIS_URL` and `REDIS_CLUSTER_NODES`; undefined
 * when neither is set. Both set is refused: one deployment talks to one Redis, and guessing
 * which one was meant would split a fleet between two.
 */
export function redisTargetFromEnv(env: {
  readonly REDIS_URL?: string | undefined;
  readonly REDIS_CLUSTER_NODES?: Extract<RedisTarget, { kind: 'cluster' }> | undefined;
}): RedisTarget | undefined {
  if (env.REDIS_URL && env.REDIS_CLUSTER_NODES) {
    throw new ConfigError(
      'invalid',
      'REDIS_CLUSTER_NODES',
      'invalid configuration: REDIS_CLUSTER_NODES and REDIS_URL are both set; set REDIS_URL for one Redis server or REDIS_CLUSTER_NODES for a Redis Cluster, not both',
    );
  }
  if (env.REDIS_CLUSTER_NODES) return env.REDIS_CLUSTER_NODES;
  return env.REDIS_URL ? { kind: 'single', url: env.REDIS_URL } : undefined;
}

/** Which variable selected `target`, for messages (`… is required when REDIS_URL is set`). */
export function redisTargetVariable(target: RedisTarget): 'REDIS_URL' | 'REDIS_CLUSTER_NODES' {
  return target.kind === 'cluster' ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
}
