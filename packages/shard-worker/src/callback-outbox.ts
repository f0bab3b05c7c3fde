import { backoffDelay, type Logger, silentLogger } from '@x/kernel';
import type { CallbackClaim, RunStore } from '@x/run-store';
import {
  type CallbackRetryPolicy,
  type CallbackSender,
  DEFAULT_CALLBACK_RETRY,
} from './callback-sender.js';
import { ShardWorkerError } from './shard-worker-error.js';

/** The slice of `RunStore` the outbox uses. */
export type OutboxStore = Pick<
  RunStore,
  'claimCallbacks' | 'markCallbackSent' | 'markCallbackFailed'
>;

export interface CallbackOutboxOptions {
  store: OutboxStore;
  sender: CallbackSender;
  /** Pause between sweeps. Default 5 s: a stranded callback waits at most about grace + this. */
  intervalMs?: number;
  /**
   * A `sending` claim older than this is presumed dead (its process was killed) and taken
   * over. Default 30 s; keep it above the sender's timeout (10 s) so a live, slow sender
   * is not doubled.
   */
  leaseMs?: number;
  /**
   * A never-tried callback is left this long to the process that wrote the terminal status
   * (it sends right after its `done` event). Default 5 s.
   */
  graceMs?: number;
  /** Callbacks claimed per round. Default 20. */
  batchSize?: number;
  logger?: Logger;
}

export interface CallbackOutboxMetrics {
  sweeps: number;
  /** Callbacks this process claimed (its own and swept ones). */
  claimed: number;
  sent: number;
  /** Failed attempts scheduled for another try. */
  retried: number;
  /** Callbacks given up on (attempts exhausted or a refused URL). */
  failed: number;
  /** Sweeps or outbox writes that threw (database unreachable); the loop backs off. */
  errors: number;
}

export interface CallbackOutbox {
  /** Starts the periodic sweep (idempotent); the timer is unref'd. */
  start(): void;
  /** One sweep now: claims and delivers every due or stranded callback; returns how many. */
  sweep(): Promise<number>;
  /**
   * Delivers one run's callback now if it is pending and due (a first attempt at once): the
   * terminal writer's own delivery, or a worker's for a run an api replica aborted (the
   * abort's stop job brings it here). One claim, first claimer wins, so asking twice sends
   * once. Never throws (a failure stays in the outbox for a sweep); close() waits for it.
   */
  deliver(runId: string): Promise<Outcome | 'not_claimed' | 'error' | 'closed'>;
  /** Stops the sweep and waits for the deliveries in flight (bounded by the sender's timeout). */
  close(): Promise<void>;
  metrics(): CallbackOutboxMetrics;
}

type Outcome = 'sent' | 'retry' | 'failed' | 'stale';

// Jitter (±20 %, the kernel's default) spreads the retries of many callbacks that failed
// together (receiver outage).
const retryDelay = (policy: CallbackRetryPolicy, attempt: number) =>
  backoffDelay(attempt, { initialMs: policy.baseDelayMs, maxMs: policy.maxDelayMs });

/**
 * Delivers one claimed callback and records the outcome: `sent`, or back to `pending` with a
 * backoff, or `failed` once attempts run out. Throws only when the outbox write fails (the
 * claim then expires and a sweep delivers it again: at-least-once).
 */
export async function deliverClaim(
  store: OutboxStore,
  sender: CallbackSender,
  claim: CallbackClaim,
  logger: Logger = silentLogger,
): Promise<Outcome> {
  const policy = sender.retry ?? DEFAULT_CALLBACK_RETRY;
  const { runId, attempt } = claim;
  if (attempt > policy.maxAttempts) {
    // Taken over from a sender that died during the last allowed attempt.
    const error = `gave up after ${policy.maxAttempts} attempts (the last sender vanished)`;
    await store.markCallbackFailed(runId, attempt, error);
    logger.error({ runId, attempt }, 'callback given up');
    return 'failed';
  }
  const outcome = await sender.send(claim.url, claim.payload, {
    id: claim.id,
    workspaceId: claim.workspaceId,
  });
  if (outcome.ok) {
    await store.markCallbackSent(runId);
    return 'sent';
  }
  const error = outcome.error ?? `callback answered ${outcome.status ?? 'nothing'}`;
  if (outcome.permanent || attempt >= policy.maxAttempts) {
    const recorded = await store.markCallbackFailed(runId, attempt, error);
    logger.error({ runId, attempt, error }, 'callback failed for good');
    return recorded ? 'failed' : 'stale';
  }
  const retryInMs = retryDelay(policy, attempt);
  const recorded = await store.markCallbackFailed(runId, attempt, error, retryInMs);
  logger.warn({ runId, attempt, retryInMs, error }, 'callback attempt failed; will retry');
  return recorded ? 'retry' : 'stale';
}

/**
 * The terminal writer's own delivery, right after its `done` event: claims this run's
 * callback (a sweep may have been first; then there is nothing to do) and delivers it.
 * Never throws: whatever goes wrong leaves the callback in the outbox for a sweep.
 */
export async function deliverOwnCallback(
  store: OutboxStore,
  sender: CallbackSender,
  runId: string,
  logger: Logger = silentLogger,
): Promise<Outcome | 'not_claimed' | 'error'> {
  try {
    const [claim] = await store.claimCallbacks({ runId });
    if (!claim) return 'not_claimed';
    return await deliverClaim(store, sender, claim, logger);
  } catch (err) {
    logger.warn({ runId, err }, 'callback outbox unreachable; a sweep will deliver it');
    return 'error';
  }
}

/**
 * The sweep that makes callbacks survive crashes: periodically claims callbacks nobody is
 * delivering — `pending` past their grace or retry time, `sending` past the lease (the
 * sender was killed) — and delivers them. Run one per worker (and in the embedded app);
 * concurrent sweeps never claim the same callback.
 *
 * @example
 * const outbox = createCallbackOutbox({ store, sender: callback, logger });
 * outbox.start();
 * process.on('SIGTERM', () => outbox.close());
 */
export function createCallbackOutbox(opts: CallbackOutboxOptions): CallbackOutbox {
  const { store, sender } = opts;
  const intervalMs = opts.intervalMs ?? 5_000;
  const leaseMs = opts.leaseMs ?? 30_000;
  const graceMs = opts.graceMs ?? 5_000;
  const batchSize = opts.batchSize ?? 20;
  const logger = opts.logger ?? silentLogger;
  for (const [name, v, min] of [
    ['intervalMs', intervalMs, 1],
    ['leaseMs', leaseMs, 1],
    ['graceMs', graceMs, 0],
    ['batchSize', batchSize, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min)
      throw new ShardWorkerError(
        'invalid_option',
        `callback outbox: ${name} must be an integer >= ${min}, got ${v}`,
      );
  }
  const counters: CallbackOutboxMetrics = {
    sweeps: 0,
    claimed: 0,
    sent: 0,
    retried: 0,
    failed: 0,
    errors: 0,
  };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  const delivering = new Set<Promise<unknown>>();
  let closed = false;
  let failures = 0;

  const deliver = async (claim: CallbackClaim) => {
    try {
      const outcome = await deliverClaim(store, sender, claim, logger);
      if (outcome === 'sent') counters.sent++;
      else if (outcome === 'retry') counters.retried++;
      else if (outcome === 'failed') counters.failed++;
    } catch (err) {
      counters.errors++;
      logger.warn({ runId: claim.runId, err }, 'callback outcome not recorded; will be resent');
    }
  };

  const sweepOnce = async () => {
    counters.sweeps++;
    let delivered = 0;
    // Drain a backlog in rounds, but never forever in one sweep.
    for (let round = 0; round < 10 && !closed; round++) {
      const claims = await store.claimCallbacks({ limit: batchSize, leaseMs, graceMs });
      counters.claimed += claims.length;
      await Promise.all(claims.map(deliver));
      delivered += claims.length;
      if (claims.length < batchSize) break;
    }
    return delivered;
  };

  const sweep = () => {
    running ??= sweepOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (delay: number) => {
    if (closed) return;
    timer = setTimeout(tick, delay);
    timer.unref();
  };

  const tick = () => {
    sweep().then(
      () => {
        failures = 0;
        schedule(intervalMs);
      },
      (err: unknown) => {
        counters.errors++;
        failures++;
        logger.warn({ err, failures }, 'callback sweep failed; backing off');
        // The database is likely down: back off instead of hammering it every interval.
        schedule(
          backoffDelay(failures + 1, {
            initialMs: intervalMs,
            maxMs: Math.max(intervalMs, 60_000),
            jitter: 0,
          }),
        );
      },
    );
  };

  const deliverOne = async (runId: string) => {
    const outcome = await deliverOwnCallback(store, sender, runId, logger);
    if (outcome === 'error') counters.errors++;
    else if (outcome !== 'not_claimed') {
      counters.claimed++;
      if (outcome === 'sent') counters.sent++;
      else if (outcome === 'retry') counters.retried++;
      else if (outcome === 'failed') counters.failed++;
    }
    return outcome;
  };

  return {
    start() {
      if (timer || closed) return;
      schedule(Math.min(intervalMs, 1_000));
    },
    sweep,
    async deliver(runId) {
      // Left pending: another process's sweep delivers it.
      if (closed) return 'closed';
      const delivery = deliverOne(runId);
      delivering.add(delivery);
      try {
        return await delivery;
      } finally {
        delivering.delete(delivery);
      }
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await Promise.allSettled([running, ...delivering]);
    },
    metrics: () => ({ ...counters }),
  };
}
