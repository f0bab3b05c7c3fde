import { type BackoffOptions, backoffDelay } from '@x/kernel';
import { type RedisPubSubClient, redisTransport, type Transport } from '@x/pubsub-core';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import type { RedisTarget } from './redis-target.js';

/** A command client for `target`: an ioredis `Redis` for one server, a `Cluster` for a cluster. */
export type RedisCommandClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Redis `CLIENT SETNAME` on every connection, so `CLIENT LIST` tells processes apart. */
  readonly connectionName: string;
}

/**
 * The command connection both apps use, for either kind of target.
 *
 * One server: a command fails after two retries instead of queueing forever while Redis is
 * down, so a request errors rather than hangs.
 *
 * A cluster: the offline queue stays on. A `Cluster` connects to each primary on the first
 * command for its slots, and with the queue off it sends commands issued meanwhile through a
 * random node whose MOVED reply sends them back late and out of order. While no node answers
 * at all, commands therefore wait for the cluster instead of failing.
 *
 * @example
 * const redis = createRedisClient({ kind: 'cluster', nodes, tls: false }, { connectionName: 'x-api' });
 */
export function createRedisClient(
  target: Extract<RedisTarget, { kind: 'single' }>,
  opts: RedisClientOptions,
): Redis;
export function createRedisClient(
  target: Extract<RedisTarget, { kind: 'cluster' }>,
  opts: RedisClientOptions,
): Cluster;
export function createRedisClient(
  target: RedisTarget,
  opts: RedisClientOptions,
): RedisCommandClient;
export function createRedisClient(
  target: RedisTarget,
  opts: RedisClientOptions,
): RedisCommandClient {
  if (target.kind === 'single') {
    return new Redis(target.url, { maxRetriesPerRequest: 2, connectionName: opts.connectionName });
  }
  return new Cluster([...target.nodes], clusterOptions(target, opts.connectionName));
}

export interface PubSubTransportOptions {
  /** Reconnect delays of the transport's own connections. Default {@link PUBSUB_BACKOFF}. */
  readonly backoff?: BackoffOptions;
}

/**
 * The bus's reconnect delays: doubling from 100 ms to a 2 s ceiling, the ceiling of the
 * command connection (ioredis's default) and of a cluster's refresh. With the transport's own
 * 5 s ceiling, the bus of a process came back up to 6 s after the rest of it once an outage
 * had lasted a few seconds: runs ran, while their live events were answered snapshot-only.
 * A refused connect to a Redis that is down costs nothing worth the wait.
 */
export const PUBSUB_BACKOFF: BackoffOptions = { maxMs: 2_000 };

/**
 * The bus transport for `target`. One server: classic pub/sub (`PUBLISH`/`SUBSCRIBE`), as
 * before. A cluster: sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) through `Cluster` clients,
 * because a classic `PUBLISH` through a `Cluster` goes to a random node per message, so a
 * burst from one publisher arrives out of order, and is broadcast to every node besides.
 */
export function createPubSubTransport(
  target: RedisTarget,
  opts: PubSubTransportOptions = {},
): Transport {
  const backoff = opts.backoff ?? PUBSUB_BACKOFF;
  if (target.kind === 'single') return redisTransport({ url: target.url, backoff });
  return redisTransport({
    sharded: true,
    backoff,
    createClient: (role) => {
      const base = clusterOptions(target, `x-pubsub-${role}`);
      return new Cluster([...target.nodes], {
        ...base,
        lazyConnect: true,
        // One subscriber connection per primary, so each SSUBSCRIBE lands where its slot lives.
        shardedSubscribers: true,
        redisOptions: {
          ...base.redisOptions,
          // The transport resubscribes itself after a reconnect and fails publishes fast.
          autoResubscribe: false,
          maxRetriesPerRequest: 0,
        },
      }) as unknown as RedisPubSubClient;
    },
  });
}

function clusterOptions(
  target: Extract<RedisTarget, { kind: 'cluster' }>,
  connectionName: string,
): ClusterOptions & { redisOptions: NonNullable<ClusterOptions['redisOptions']> } {
  return {
    enableOfflineQueue: true,
    clusterRetryStrategy: (attempt) => backoffDelay(attempt, { maxMs: 2_000 }),
    redisOptions: {
      connectionName,
      ...(target.username !== undefined && { username: target.username }),
      ...(target.password !== undefined && { password: target.password }),
      // Node's defaults: certificates are checked against the system CAs and the host name.
      ...(target.tls && { tls: {} }),
    },
  };
}
