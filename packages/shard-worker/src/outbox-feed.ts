import type { Logger } from '@x/kernel';
import type { RunStore } from '@x/run-store';
import {
  createFairDispatcher,
  type DispatchMode,
  type FairDispatcherMetrics,
  type WorkspaceLimits,
} from './fair-dispatcher.js';
import { createShardEnqueuer, type ShardEnqueuerMetrics } from './shard-enqueuer.js';
import type { ShardQueue } from './shard-queue.js';

/** What moves shards from the enqueue outbox to the queue, in either dispatch mode. */
export type OutboxFeed = {
  start(): void;
  /** A pass now: on run creation and Redis `ready`. Never rejects. */
  wake(): Promise<void>;
  close(): Promise<void>;
} & (
  | { readonly mode: 'fifo'; metrics(): ShardEnqueuerMetrics }
  | {
      readonly mode: 'fair';
      metrics(): FairDispatcherMetrics;
      /** A shard of this process ended: passes come in batches of ends (see the dispatcher). */
      shardSettled(): void;
    }
);

export interface OutboxFeedOptions {
  mode: DispatchMode;
  store: Pick<
    RunStore,
    'claimEnqueues' | 'markEnqueued' | 'releaseEnqueues' | 'transition' | 'dispatchShards'
  >;
  queue: Pick<ShardQueue, 'add'>;
  /** Fair mode's shares. */
  limits?: WorkspaceLimits;
  /** Begins each run's event history before its first shards are queued (see the enqueuer). */
  events?: { begin(runId: string): Promise<void> };
  logger?: Logger;
}

/**
 * The enqueuer (`fifo`) or the fair dispatcher (`fair`) behind one shape, so an app builds
 * either from `DISPATCH_MODE` and wires it the same way.
 *
 * @example
 * const feed = createOutboxFeed({ mode: 'fair', store, queue, limits: { window: 16 } });
 * feed.start();
 */
export function createOutboxFeed(opts: OutboxFeedOptions): OutboxFeed {
  const { store, queue } = opts;
  const logger = opts.logger;
  if (opts.mode === 'fair') {
    const d = createFairDispatcher({
      store,
      queue,
      ...(opts.limits && { limits: opts.limits }),
      ...(opts.events && { events: opts.events }),
      ...(logger && { logger }),
    });
    return {
      mode: 'fair',
      start: d.start,
      wake: d.wake,
      close: d.close,
      metrics: d.metrics,
      shardSettled: d.shardSettled,
    };
  }
  const e = createShardEnqueuer({
    store,
    queue,
    ...(opts.events && { events: opts.events }),
    ...(logger && { logger }),
  });
  return { mode: 'fifo', start: e.start, wake: e.wake, close: e.close, metrics: e.metrics };
}
