import { DROP_REASONS, type DropReason } from './drop-reasons.js';

/**
 * Monotonic counters of one bus, as a plain object. To export them with prom-client, read
 * them in a `collect()` callback (see the README); `subscribedChannels` is a gauge.
 */
export interface BusMetrics {
  /** `publish()` calls accepted (valid payload, bus open). */
  published: number;
  /** `publish()` calls refused: invalid payload, oversize, or bus closed. */
  publishRejected: number;
  /** Transport sends that failed (Redis down, ...); the message reached local listeners only. */
  publishErrors: number;
  /** Remote messages that passed every check. */
  received: number;
  /** Listener invocations, local and remote. */
  delivered: number;
  /** Local deliveries skipped: a listener subscribed with `ignoreOwn` and its own channel published. */
  ownSkipped: number;
  /** Remote messages dropped, by reason. */
  dropped: Record<DropReason, number>;
  /** Listeners that threw or rejected. */
  listenerErrors: number;
  /** SUBSCRIBE/UNSUBSCRIBE commands that failed (retried on reconnect). */
  subscribeErrors: number;
  /** Connection errors reported by the transport. */
  connectionErrors: number;
  /** Completed reconnects (each followed by `onReconnect`). */
  reconnects: number;
  /** Channels with at least one local listener (gauge). */
  subscribedChannels: number;
}

export function emptyMetrics(): BusMetrics {
  const dropped = {} as Record<DropReason, number>;
  for (const reason of DROP_REASONS) dropped[reason] = 0;
  return {
    published: 0,
    publishRejected: 0,
    publishErrors: 0,
    received: 0,
    delivered: 0,
    ownSkipped: 0,
    dropped,
    listenerErrors: 0,
    subscribeErrors: 0,
    connectionErrors: 0,
    reconnects: 0,
    subscribedChannels: 0,
  };
}
