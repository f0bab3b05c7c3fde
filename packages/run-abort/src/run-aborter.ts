import { canonicalUuid, type Logger } from '@x/kernel';
import type { RunStatus } from '@x/protocol';
import { LIVE_STATUSES } from '@x/protocol';
import type { Bus, Subscription } from '@x/pubsub-core';
import type { Run } from '@x/run-store';
import { emptyMetrics, type RunAborterMetrics } from './abort-metrics.js';
import type { AbortStore } from './abort-store.js';
import { createReconcileLoop } from './reconcile-loop.js';
import { MAX_REASON_LENGTH, type RunAbortMessage, runAbortChannel } from './run-abort-channel.js';
import { RunAbortedError } from './run-aborted-error.js';
import type { ShardRegistry } from './shard-registry.js';

export interface RunAborterOptions {
  /** Carries aborts between replicas (`{prefix}:run-abort`). With the memory transport aborts stay in-process. */
  bus: Bus;
  /** Where the terminal status is written first and read back by reconcile; a `RunStore` fits. */
  store: AbortStore;
  /** This process's running shards. */
  registry: ShardRegistry;
  /**
   * Period of the reconcile sweep that catches aborts the wire lost. It bounds how long a
   * shard can outlive an abort whose message was lost while the bus still looked connected.
   * One indexed query per sweep, only while shards are registered. `0` disables the sweep
   * (reconcile still runs on start and on every reconnect). Default 5000.
   */
  sweepIntervalMs?: number;
  /** Warnings for failed publishes, reconciles and throwing handlers. pino-compatible. */
  logger?: Logger;
}

/** What {@link RunAborter.abort} did. */
export interface AbortResult {
  /** True when the run is aborted now (by this call or an earlier one). */
  aborted: boolean;
  /** True when this call wrote the abort (first writer). */
  won: boolean;
  /** The run's status after the call: `aborted`, or the `completed`/`failed` that got there first. */
  status: RunStatus;
  /** Shards of this process the fast path cancelled. */
  localShards: number;
  /**
   * The aborted run as this call wrote it (counts, finishedAt), when it won and the store
   * returns it (a `RunStore` does): announce it without reading the run again.
   */
  run?: Run;
}

export interface RunAborter {
  /**
   * The abort's signal part: writes `aborted` to the store (first writer wins: a run that
   * already completed or failed is left alone and `aborted: false` says so), cancels this
   * process's shards, then publishes so other replicas cancel theirs. Idempotent: calling it
   * again on an aborted run repeats the local abort and the publish (a retry of a lost
   * publish). The reason is clipped to 500 characters. Throws `TypeError` for a non-UUID id
   * and whatever the store throws; never throws for a failed publish.
   *
   * It does not announce the run (`done`, callback) nor clean the queue: that is the abort
   * use case's (`abortRun` of @x/shard-worker), which calls this.
   */
  abort(runId: string, reason: string): Promise<AbortResult>;
  /** Cancels this process's shards of the run only (e.g. siblings of a shard that failed the run). */
  abortLocal(runId: string, reason: string): number;
  /** Publishes the abort only, for a caller that already wrote the terminal status. Never throws. */
  broadcast(runId: string, reason: string): void;
  /**
   * Subscribes to the abort channel, starts the reconcile sweep and the on-reconnect
   * reconcile, and reconciles once. Idempotent; concurrent calls share one attempt; after a
   * failed subscribe (rejected) a later call retries, and no message is ever dispatched twice.
   */
  start(): Promise<void>;
  /** One reconcile pass; resolves with the shards it cancelled. Rejects if the store fails. */
  reconcile(): Promise<number>;
  metrics(): RunAborterMetrics;
  /** Unsubscribes, stops the sweep and the reconnect hook, waits for an in-flight reconcile. Leaves the bus and store open (they are the caller's). */
  close(): Promise<void>;
}

/**
 * Worst-case delay from `abort` to a remote shard's signal:
 * - message delivered: one pub/sub hop (sub-millisecond on a LAN);
 * - message lost while the subscriber was disconnected: the time to reconnect, plus one store round trip (reconcile on reconnect);
 * - message lost with no visible disconnect: `sweepIntervalMs` plus one store round trip;
 * - shard starting after the abort: refused by the shard's own status check at start (or cancelled on register when this process saw the abort).
 *
 * @example
 * const aborter = createRunAborter({ bus, store: runStore, registry });
 * await aborter.start();
 * const { aborted, status } = await aborter.abort(runId, 'aborted by user');
 * if (!aborted) reply(409, `run already ${status}`);
 */
export function createRunAborter(opts: RunAborterOptions): RunAborter {
  const { bus, store, registry, logger } = opts;
  const counters = emptyMetrics();
  const channel = bus.channel(runAbortChannel);
  const loop = createReconcileLoop({
    store,
    registry,
    metrics: counters,
    sweepIntervalMs: opts.sweepIntervalMs ?? 5_000,
    logger,
  });
  let starting: Promise<void> | undefined;
  let subscription: Subscription | undefined;
  let offReconnect: (() => void) | undefined;
  // Each subscribe attempt owns a generation; a listener left behind by a superseded attempt
  // (subscribe rejected after attaching it) sees a newer generation and drops the message.
  let generation = 0;
  let closed = false;

  const clip = (reason: string) =>
    reason.length > MAX_REASON_LENGTH ? reason.slice(0, MAX_REASON_LENGTH) : reason;

  const onMessage = (
    payload: RunAbortMessage,
    meta: { origin: string; local: boolean },
    gen: number,
  ) => {
    if (gen !== generation) {
      counters.staleDispatchesDropped++;
      return;
    }
    try {
      counters.received++;
      counters.receivedShardsAborted += registry.abortAllShardsForRun(
        payload.runId,
        payload.reason,
      );
    } catch (err) {
      counters.handlerErrors++;
      logger?.error(
        { err, runId: payload.runId, origin: meta.origin },
        'run-abort: handling an abort message threw',
      );
    }
  };

  const subscribe = async () => {
    const gen = ++generation;
    // ignoreOwn: the bus never hands this aborter its own publish (it already acted on it);
    // another aborter's abort on the same bus still comes through.
    const sub = await channel.subscribe((payload, meta) => onMessage(payload, meta, gen), {
      ignoreOwn: true,
    });
    if (closed || gen !== generation) {
      await sub.unsubscribe();
      return;
    }
    subscription = sub;
  };

  const broadcast = (runId: string, reason: string) => {
    if (bus.state !== 'connected') counters.publishedWhileDisconnected++;
    try {
      // false = refused by the channel schema (the bus logged why); counted like a failed send.
      if (channel.publish({ runId, reason: clip(reason) })) counters.published++;
      else counters.publishErrors++;
    } catch (err) {
      // The store already holds the abort; reconcile delivers it to replicas this publish missed.
      counters.publishErrors++;
      logger?.warn(
        { err, runId },
        'run-abort: publish failed; replicas will find the abort by reconcile',
      );
    }
  };

  const abortLocal = (runId: string, reason: string) => {
    const cancelled = registry.abortAllShardsForRun(runId, clip(reason));
    counters.localShardsAborted += cancelled;
    return cancelled;
  };

  return {
    async abort(id, reason) {
      // Shards are registered under the canonical (lower-case) id. A string that is not a
      // UUID cannot name a run: not found, as the store would say.
      const runId = canonicalUuid(id);
      if (runId === undefined)
        throw new RunAbortedError(
          'run_not_found',
          String(id),
          `abort: no run ${JSON.stringify(id)}`,
        );
      const why = clip(reason);
      counters.abortsRequested++;
      // The store stamps finishedAt and durationMs itself (its clock, not this replica's).
      const { won, status, run } = await store.transition(runId, LIVE_STATUSES, 'aborted', {
        error: why,
      });
      if (!won && status !== 'aborted') {
        counters.abortsLost++;
        return { aborted: false, won, status, localShards: 0 };
      }
      if (won) counters.abortsWon++;
      else counters.abortsRepeated++;
      const localShards = abortLocal(runId, why);
      broadcast(runId, why);
      return { aborted: true, won, status: 'aborted', localShards, ...(run && { run }) };
    },
    abortLocal,
    broadcast,
    start() {
      if (closed) return Promise.reject(new Error('run-abort: start() after close()'));
      if (!offReconnect) {
        // Installed before subscribing: even if the subscribe keeps failing, the store path works.
        offReconnect = bus.onReconnect(() => void loop.reconcileSafe('reconnect'));
        loop.startSweeps();
      }
      starting ??= subscribe().then(
        () => loop.reconcileSafe('start').then(() => undefined),
        (err: unknown) => {
          starting = undefined;
          counters.subscribeErrors++;
          logger?.warn({ err }, 'run-abort: subscribe failed; call start() again to retry');
          throw err;
        },
      );
      return starting;
    },
    reconcile: () => loop.reconcile(),
    metrics: () => ({
      ...counters,
      cancelErrors: registry.cancelErrors,
      registeredShards: registry.size,
    }),
    async close() {
      if (closed) return;
      closed = true;
      generation++;
      offReconnect?.();
      await Promise.allSettled([starting]);
      await subscription?.unsubscribe();
      await loop.close();
    },
  };
}
