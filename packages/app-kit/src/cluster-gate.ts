import { ConfigError } from './config-error.js';
import type { RedisTarget } from './redis-target.js';

/**
 * Refuses a Redis Cluster target at start, before any connection, until every part of the
 * core runs on one. The connections, the bus (sharded pub/sub), run aborts and stop jobs do
 * (issue 16, part 1); the event log (@x/sse-relay: a run's keys and channel are not in one
 * slot yet) and the BullMQ shard queue (its keys and its connection handling) do not
 * (part 2). Part 2 deletes this gate. A refusal rather than a start that fails on the first
 * run with CROSSSLOT errors.
 */
export function refuseClusterUntilReady(
  target: RedisTarget,
): asserts target is Extract<RedisTarget, { kind: 'single' }> {
  if (target.kind !== 'cluster') return;
  throw new ConfigError(
    'invalid',
    'REDIS_CLUSTER_NODES',
    'invalid configuration: REDIS_CLUSTER_NODES: the event log and the BullMQ shard queue do not run on a Redis Cluster yet (issue 16, part 2); set REDIS_URL instead',
  );
}
