import { backoffDelay, silentLogger, sleep } from '@x/kernel';
import { Cluster } from 'ioredis';
import type { ResolvedOptions, StopJobsConsumerOptions } from './consumer-options.js';
import {
  type BatchContext,
  type BatchSource,
  commitBatch,
  handleBatch,
  prepareBatch,
} from './handle-batch.js';
import { createLease } from './lease.js';
import { createMetrics, type StopJobsMetrics, snapshotMetrics } from './metrics.js';
import {
  errorMessage,
  isNoGroupError,
  parseAutoclaimReply,
  parseReadReply,
  type RawEntry,
} from './redis-replies.js';
import { StopJobsError } from './stop-jobs-error.js';
import {
  DEFAULT_GROUP,
  DEFAULT_MAX_LEN,
  isClusterClient,
  type StopJobsRedis,
  stopJobsStreams,
} from './stream-names.js';

export interface StopJobsConsumer {
  /** Creates the group if needed (rejects if Redis is unreachable), then runs the loop. */
  start(): Promise<void>;
  /** Stops reading, finishes and acknowledges the batch in hand, releases the read connection. */
  close(): Promise<void>;
  metrics(): StopJobsMetrics;
}

/**
 * A Redis Streams consumer-group member that applies stop commands from
 * `{prefix}:runs:stop_jobs` and publishes one result per entry to `{prefix}:runs:job_results`.
 * Run one per worker process; they share the stream.
 *
 * @example
 * const consumer = createStopJobsConsumer({ redis, prefix: 'x', service, consumerName: `worker-${hostname()}-${process.pid}` });
 * await consumer.start();
 * process.once('SIGTERM', () => void consumer.close());
 */
export function createStopJobsConsumer(options: StopJobsConsumerOptions): StopJobsConsumer {
  const opts = resolve(options);
  const streams = stopJobsStreams(opts.prefix, { cluster: opts.cluster });
  const metrics = createMetrics();
  const stopping = new AbortController();
  const ctx: BatchContext = {
    ...opts,
    streams,
    consumer: opts.consumerName,
    metrics,
    lastErrors: new Map(),
  };
  let reader: StopJobsRedis | undefined;
  let loop: Promise<void> | undefined;
  let blocked = false;
  let closed = false;

  const ensureGroup = async () => {
    try {
      // From 0, not $: commands written before any consumer existed (or into a stream
      // recreated after a Redis restart) are all still to be handled.
      await opts.redis.call('XGROUP', 'CREATE', streams.jobs, opts.group, '0', 'MKSTREAM');
      metrics.groupsCreated++;
      opts.logger.info({ stream: streams.jobs, group: opts.group }, 'stop-jobs group created');
    } catch (error) {
      if (!errorMessage(error).startsWith('BUSYGROUP')) throw error;
    }
  };

  const read = async (
    client: StopJobsRedis,
    id: string,
    blockMs: number | null,
  ): Promise<RawEntry[]> => {
    const args: (string | number)[] = ['GROUP', opts.group, opts.consumerName, 'COUNT', opts.count];
    if (blockMs !== null) args.push('BLOCK', blockMs);
    args.push('STREAMS', streams.jobs, id);
    return parseReadReply(await client.call('XREADGROUP', args));
  };

  const blockingRead = async (wait: number) => {
    reader ??= duplicate(opts.redis);
    blocked = true;
    try {
      return await read(reader, '>', wait);
    } finally {
      blocked = false;
    }
  };

  const lease = createLease({
    redis: opts.redis,
    stream: streams.jobs,
    group: opts.group,
    consumer: opts.consumerName,
    claimMinIdleMs: opts.claimMinIdleMs,
    metrics,
    logger: opts.logger,
  });

  const handle = async (entries: RawEntry[], source: BatchSource) => {
    await settleCommit();
    lease.hold(entries);
    try {
      await handleBatch(ctx, entries, source);
    } finally {
      lease.release(entries);
    }
  };

  /**
   * The commit of the last backlog batch, still in flight while the next one is prepared,
   * so this process and Redis work at the same time. Commits stay one at a time and in
   * order: each waits for the one before it. Its failure surfaces at the next settle.
   */
  let committing: Promise<void> | undefined;
  const settleCommit = async () => {
    const inFlight = committing;
    committing = undefined;
    await inFlight;
  };

  const handleBacklog = async (entries: RawEntry[]) => {
    lease.hold(entries);
    let prepared: Awaited<ReturnType<typeof prepareBatch>>;
    try {
      prepared = await prepareBatch(ctx, entries, 'new');
      await settleCommit();
    } catch (error) {
      lease.release(entries);
      throw error;
    }
    const commit = commitBatch(ctx, prepared).finally(() => lease.release(entries));
    commit.catch(() => {}); // observed by settleCommit; avoids an unhandled rejection meanwhile
    committing = commit;
  };

  /**
   * A full batch means a backlog: fetch the next one while handling this one, so Redis
   * and this process work at the same time. Non-blocking, so it never delays close().
   */
  const readAhead = (entries: RawEntry[]): Promise<RawEntry[]> | undefined => {
    if (entries.length < opts.count || stopping.signal.aborted) return undefined;
    const next = read(reader!, '>', null).then((fetched) => {
      metrics.read += fetched.length;
      lease.hold(fetched);
      return fetched;
    });
    next.catch(() => {}); // observed when awaited; avoids an unhandled rejection meanwhile
    return next;
  };

  const run = async () => {
    // Own pending entries first (a restart of this consumer), walking forward so entries
    // left pending by a failed stop call do not loop here: XAUTOCLAIM retries those.
    let pendingCursor: string | null = '0';
    let claimCursor = '0-0';
    let nextClaimAt = 0;
    let failures = 0;
    let prefetch: Promise<RawEntry[]> | undefined;
    while (!stopping.signal.aborted) {
      try {
        if (pendingCursor !== null) {
          const entries = await read(opts.redis, pendingCursor, null);
          metrics.read += entries.length;
          pendingCursor = entries.length ? entries[entries.length - 1]!.id : null;
          await handle(entries, 'redelivered');
        } else if (Date.now() >= nextClaimAt) {
          await settleCommit();
          const reply = parseAutoclaimReply(
            await opts.redis.call(
              'XAUTOCLAIM',
              streams.jobs,
              opts.group,
              opts.consumerName,
              opts.claimMinIdleMs,
              claimCursor,
              'COUNT',
              opts.count,
            ),
          );
          if (reply.deleted.length) {
            metrics.trimmed += reply.deleted.length;
            opts.logger.warn(
              { entryIds: reply.deleted },
              'pending stop jobs were trimmed before being handled',
            );
          }
          metrics.claimed += reply.entries.length;
          claimCursor = reply.cursor;
          // A full sweep is done when the cursor wraps to 0-0; until then keep claiming.
          if (claimCursor === '0-0') nextClaimAt = Date.now() + opts.claimIntervalMs;
          await handle(reply.entries, 'redelivered');
        } else if (prefetch) {
          // Fetched while the last batch was handled; held (lease) since it arrived.
          const fetched = prefetch;
          prefetch = undefined;
          const entries = await fetched;
          prefetch = readAhead(entries);
          await handleBacklog(entries);
        } else {
          await settleCommit();
          const wait = Math.max(1, Math.min(opts.blockMs, nextClaimAt - Date.now()));
          const entries = await blockingRead(wait);
          metrics.read += entries.length;
          prefetch = readAhead(entries);
          await handle(entries, 'new');
        }
        failures = 0;
      } catch (caught) {
        if (stopping.signal.aborted) break;
        let error = caught;
        if (isNoGroupError(error)) {
          opts.logger.warn({ stream: streams.jobs }, 'stop-jobs group is gone; recreating it');
          claimCursor = '0-0';
          try {
            await ensureGroup();
            continue;
          } catch (createError) {
            error = createError;
          }
        }
        metrics.errors.redis++;
        const delay = backoffDelay(++failures, opts.backoff);
        opts.logger.error(
          { err: errorMessage(error), retryInMs: delay },
          'stop-jobs consumer error',
        );
        // An abort here is the consumer stopping: the loop condition ends it.
        await sleep(delay, { signal: stopping.signal }).catch(() => {});
      }
    }
    await finishCommit();
    if (prefetch) await finishPrefetched(prefetch);
  };

  const finishCommit = async () => {
    try {
      await settleCommit();
    } catch (error) {
      // Left pending: re-read by this consumer name on restart, or claimed by another.
      metrics.errors.redis++;
      opts.logger.error({ err: errorMessage(error) }, 'stop-jobs consumer error while closing');
    }
  };

  const finishPrefetched = async (fetched: Promise<RawEntry[]>) => {
    try {
      await handle(await fetched, 'new');
    } catch (error) {
      // Left pending: re-read by this consumer name on restart, or claimed by another.
      metrics.errors.redis++;
      opts.logger.error({ err: errorMessage(error) }, 'stop-jobs consumer error while closing');
    }
  };

  const onAbort = () => void close();
  const close = async () => {
    if (closed) return loop;
    closed = true;
    opts.signal?.removeEventListener('abort', onAbort);
    stopping.abort();
    // A blocking read cannot be cancelled: drop its connection. Entries Redis handed it at
    // that instant stay pending for this name and are re-read or claimed later.
    if (blocked) reader?.disconnect();
    await loop;
    lease.close();
    reader?.disconnect();
  };

  return {
    async start() {
      if (loop || closed) throw new StopJobsError('closed', 'consumer already started or closed');
      await ensureGroup();
      if (opts.signal?.aborted) {
        await close();
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      loop = run();
    },
    close,
    metrics: () => snapshotMetrics(metrics),
  };
}

function resolve(options: StopJobsConsumerOptions): ResolvedOptions {
  const claimMinIdleMs = options.claimMinIdleMs ?? 30_000;
  const resolved: ResolvedOptions = {
    redis: options.redis,
    prefix: options.prefix,
    cluster: options.cluster ?? isClusterClient(options.redis),
    service: options.service,
    consumerName: options.consumerName,
    group: options.group ?? DEFAULT_GROUP,
    count: options.count ?? 128,
    blockMs: options.blockMs ?? 1000,
    claimMinIdleMs,
    claimIntervalMs:
      options.claimIntervalMs ?? Math.max(1, Math.floor(Math.min(claimMinIdleMs / 2, 10_000))),
    maxDeliveries: options.maxDeliveries ?? 5,
    maxLen: options.maxLen ?? DEFAULT_MAX_LEN,
    concurrency: options.concurrency ?? 16,
    serviceTimeoutMs: options.serviceTimeoutMs ?? 30_000,
    backoff: {
      initialMs: options.backoff?.initialMs ?? 100,
      maxMs: options.backoff?.maxMs ?? 5000,
    },
    logger: options.logger ?? silentLogger,
    signal: options.signal,
  };
  const positive = [
    'count',
    'blockMs',
    'claimMinIdleMs',
    'claimIntervalMs',
    'maxDeliveries',
    'maxLen',
    'concurrency',
    'serviceTimeoutMs',
  ] as const;
  for (const key of positive) {
    if (!Number.isInteger(resolved[key]) || resolved[key] < 1) {
      throw new StopJobsError(
        'invalid_options',
        `${key} must be a positive integer, got ${resolved[key]}`,
      );
    }
  }
  if (!resolved.prefix) throw new StopJobsError('invalid_options', 'prefix must not be empty');
  if (!resolved.consumerName)
    throw new StopJobsError('invalid_options', 'consumerName must not be empty');
  return resolved;
}

/** A second connection like `redis` (for a `Cluster`, to the same startup nodes). */
function duplicate(redis: StopJobsRedis): StopJobsRedis {
  return redis instanceof Cluster ? redis.duplicate() : redis.duplicate();
}
