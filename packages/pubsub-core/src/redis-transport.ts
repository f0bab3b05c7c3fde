import { type BackoffOptions, backoffDelay } from '@x/kernel';
import { Redis } from 'ioredis';
import { PubSubError } from './pubsub-error.js';
import type { RedisPubSubClient } from './redis-client.js';
import { RedisLink } from './redis-link.js';
import type { Transport } from './transport.js';

export interface RedisTransportOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Required unless `createClient` is given. */
  url?: string;
  /**
   * Makes a client; called twice per bus (publisher, subscriber), because a subscribed
   * connection should not carry ordinary traffic. Use it for TLS, Sentinel or a Cluster
   * (with `sharded: true`). The transport connects the clients if they are lazy and closes
   * them on `close()`. Prefer `autoResubscribe: false` and `enableOfflineQueue: false` on
   * them: the transport resubscribes itself, and a queued publish would arrive late.
   */
  createClient?: (role: 'publisher' | 'subscriber') => RedisPubSubClient;
  /**
   * Use sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+). Default false. On Redis Cluster,
   * sharded messages stay on the shard owning the channel instead of crossing every node.
   */
  sharded?: boolean;
  /**
   * Fail start-up instead of waiting: if both connections are not ready within
   * `connectTimeoutMs`, the transport closes and `bus.ready()` rejects with
   * `PubSubError('connect_timeout')`. Default false (keep retrying with backoff), because a
   * replica that cannot reach Redis can still serve local work.
   */
  strict?: boolean;
  /** Start-up deadline for `strict`. Default 2,000 ms. */
  connectTimeoutMs?: number;
  /** Reconnect delays (exponential with jitter). Defaults: 100 ms doubling to 5 s, ±20 %. */
  backoff?: BackoffOptions;
}

/**
 * Redis pub/sub transport (ioredis): per bus, one publisher and one dedicated subscriber
 * connection; every channel is re-subscribed after a reconnect before `onReconnect` fires.
 *
 * @example
 * const bus = createBus({ transport: redisTransport({ url: process.env.REDIS_URL, strict: true }) });
 * await bus.ready(); // rejects within 2 s when Redis is unreachable
 */
export function redisTransport(opts: RedisTransportOptions): Transport {
  const { url, createClient, sharded = false, strict = false, backoff = {} } = opts;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
  if (!url && !createClient) {
    throw new PubSubError(
      'invalid_option',
      'redisTransport needs a url or a createClient function',
    );
  }
  if (!Number.isFinite(connectTimeoutMs) || connectTimeoutMs <= 0) {
    throw new PubSubError('invalid_option', 'connectTimeoutMs must be a positive number');
  }
  const make =
    createClient ??
    ((role: 'publisher' | 'subscriber') =>
      new Redis(url as string, {
        lazyConnect: true,
        // Pub/sub is fire-and-forget: a publish queued through an outage would arrive stale,
        // and an unbounded queue is a memory leak. Fail fast and count instead.
        enableOfflineQueue: false,
        autoResubscribe: false,
        autoResendUnfulfilledCommands: false,
        // Reject commands in flight when the connection drops. Without this, ioredis parks
        // them in a queue that `autoResendUnfulfilledCommands: false` discards unsettled: a
        // SUBSCRIBE would never resolve and an auto-pipeline would stall for good.
        maxRetriesPerRequest: 0,
        connectionName: `x-pubsub-${role}`,
        retryStrategy: (attempt: number) => backoffDelay(attempt, backoff),
        connectTimeout: Math.max(connectTimeoutMs, 1_000),
      }) as unknown as RedisPubSubClient);
  return {
    kind: sharded ? 'redis-sharded' : 'redis',
    open: (sink) => new RedisLink({ make, sharded, strict, connectTimeoutMs, backoff }, sink),
  };
}
