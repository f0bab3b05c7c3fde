import type { Logger } from '@x/kernel';
import { batchDeadline, callService } from './call-service.js';
import { decodeStopJob, encodeDeadStopJob, fieldsToRecord } from './codec.js';
import { runCommitScript } from './commit-script.js';
import { metricErrorCode, observeBatch, type StopJobsMetrics } from './metrics.js';
import { parsePendingCount, type RawEntry } from './redis-replies.js';
import type { StopJobResultFields } from './schemas.js';
import { StopJobsError } from './stop-jobs-error.js';
import { clip, type StopJob, type StopService } from './stop-service.js';
import type { StopJobsRedis, StopJobsStreams } from './stream-names.js';

export interface BatchContext {
  redis: Pick<StopJobsRedis, 'call' | 'pipeline'>;
  streams: StopJobsStreams;
  group: string;
  consumer: string;
  service: StopService;
  maxDeliveries: number;
  maxLen: number;
  concurrency: number;
  serviceTimeoutMs: number;
  metrics: StopJobsMetrics;
  logger: Logger;
  /** Last service error per pending entry, for the dead letter (bounded by the caller). */
  lastErrors: Map<string, string>;
}

/**
 * `new`: first delivery (`>`), count 1. `redelivered` (own pending entries, claimed ones):
 * the delivery count comes from XPENDING.
 */
export type BatchSource = 'new' | 'redelivered';

type Slot = { result: StopJobResultFields; dead?: string[] } | 'retry';

/** A batch whose service calls are done: one slot per entry, ready for commitBatch. */
export interface PreparedBatch {
  entries: RawEntry[];
  slots: (Slot | undefined)[];
}

/**
 * First half of a batch: decode, call the service (runs in parallel, one run's entries in
 * order). commitBatch then publishes every result, dead letter and the acknowledgement in
 * ONE Lua script. An entry is never acknowledged without its result; an entry whose service
 * call failed stays pending and comes back through XAUTOCLAIM after `claimMinIdleMs`.
 */
export async function prepareBatch(
  ctx: BatchContext,
  entries: RawEntry[],
  source: BatchSource,
): Promise<PreparedBatch> {
  if (entries.length === 0) return { entries, slots: [] };
  const counts = source === 'new' ? null : await deliveryCounts(ctx, entries);
  const slots: (Slot | undefined)[] = new Array(entries.length);
  const byRun = new Map<string, { index: number; job: StopJob }[]>();

  entries.forEach((entry, index) => {
    const deliveryCount = counts ? counts[index] : 1;
    if (deliveryCount == null) {
      // Another consumer acknowledged it since we read it: its result is already out.
      ctx.metrics.skipped++;
      slots[index] = 'retry';
      return;
    }
    const decoded = decodeStopJob(entry.id, entry.fields);
    if (!decoded.ok) {
      ctx.metrics[decoded.reason]++;
      ctx.logger.warn({ entryId: entry.id, detail: decoded.detail }, 'refused stop job entry');
      slots[index] = {
        result: failure(entry.id, decoded.runId, 'invalid_envelope', decoded.detail),
      };
      return;
    }
    if (deliveryCount > ctx.maxDeliveries) {
      const last =
        ctx.lastErrors.get(entry.id) ??
        `delivered ${deliveryCount} times without an outcome (a consumer handling it probably died)`;
      slots[index] = deadLetter(ctx, entry, decoded.job.runId, deliveryCount, last);
      return;
    }
    // A literal, not a spread: this runs for every entry and spreads are slow in V8.
    const { runId, reason, requestedAtMs, requestedBy, entryId } = decoded.job;
    const job: StopJob = { runId, reason, requestedAtMs, requestedBy, entryId, deliveryCount };
    const queue = byRun.get(job.runId);
    if (queue) queue.push({ index, job });
    else byRun.set(job.runId, [{ index, job }]);
  });

  const deadline = batchDeadline(ctx.serviceTimeoutMs);
  await runLimited([...byRun.values()], ctx.concurrency, async (jobs) => {
    for (const { index, job } of jobs) {
      const answer = await callService(ctx.service, job, deadline);
      if (answer.ok) {
        const { outcome, errorCode, errorMessage: message, finalStatus } = answer.result;
        slots[index] = {
          result: {
            run_id: job.runId,
            outcome,
            error_code: errorCode,
            error_message: clip(message),
            final_status: finalStatus,
            source_entry_id: job.entryId,
          },
        };
        continue;
      }
      ctx.metrics.errors.service++;
      ctx.logger.error(
        {
          entryId: job.entryId,
          runId: job.runId,
          deliveryCount: job.deliveryCount,
          err: answer.error,
        },
        'stop service failed',
      );
      const entry = entries[index]!;
      slots[index] =
        job.deliveryCount >= ctx.maxDeliveries
          ? deadLetter(ctx, entry, job.runId, job.deliveryCount, answer.error)
          : 'retry';
      if (slots[index] === 'retry') rememberError(ctx.lastErrors, job.entryId, answer.error);
    }
  });
  deadline.clear();
  return { entries, slots };
}

/** Publishes a prepared batch's results and acknowledges its entries (see COMMIT_BATCH_LUA). */
export async function commitBatch(ctx: BatchContext, batch: PreparedBatch): Promise<void> {
  if (batch.entries.length === 0) return;
  await commit(ctx, batch.entries, batch.slots);
  observeBatch(ctx.metrics, batch.entries.length);
}

/** Handles one batch: prepareBatch, then commitBatch. */
export async function handleBatch(
  ctx: BatchContext,
  entries: RawEntry[],
  source: BatchSource,
): Promise<void> {
  await commitBatch(ctx, await prepareBatch(ctx, entries, source));
}

async function commit(ctx: BatchContext, entries: RawEntry[], slots: (Slot | undefined)[]) {
  const { streams } = ctx;
  const published: StopJobResultFields[] = [];
  const dead: string[][] = [];
  for (let index = 0; index < slots.length; index++) {
    const slot = slots[index];
    if (slot === undefined || slot === 'retry') continue;
    // The script acknowledges each result's source_entry_id: it must be this entry's id.
    if (slot.result.source_entry_id !== entries[index]!.id) {
      throw new StopJobsError(
        'unexpected_reply',
        `result for ${entries[index]!.id} names ${slot.result.source_entry_id}`,
      );
    }
    published.push(slot.result);
    if (slot.dead) dead.push(slot.dead);
  }
  if (published.length === 0) return;
  const args: (string | number)[] = [
    streams.results,
    streams.dead,
    streams.jobs,
    ctx.group,
    ctx.maxLen,
    published.length,
    dead.length,
  ];
  for (const r of published) {
    args.push(
      r.run_id,
      r.outcome,
      r.error_code,
      r.error_message,
      r.final_status,
      r.source_entry_id,
    );
  }
  for (const fields of dead) args.push(fields.length, ...fields);
  const ackCount = await runCommitScript(ctx.redis, args);

  if (ackCount < published.length) {
    // Another consumer claimed and acknowledged some of these while we were handling
    // them (handling took longer than claimMinIdleMs): their results went out twice.
    ctx.metrics.raced += published.length - ackCount;
    ctx.logger.warn(
      { raced: published.length - ackCount },
      'entries were acknowledged elsewhere first',
    );
  }
  ctx.metrics.deadLettered += dead.length;
  for (const result of published) {
    ctx.metrics.handled[result.outcome]++;
    ctx.metrics.errorCodes[metricErrorCode(result.error_code)]++;
  }
  if (ctx.lastErrors.size) for (const r of published) ctx.lastErrors.delete(r.source_entry_id);
}

function deadLetter(
  ctx: BatchContext,
  entry: RawEntry,
  runId: string,
  deliveryCount: number,
  lastError: string,
): Slot {
  const original = entry.fields ? fieldsToRecord(entry.fields) : null;
  ctx.logger.error(
    { entryId: entry.id, runId, deliveryCount, lastError },
    'stop job dead-lettered',
  );
  return {
    result: failure(
      entry.id,
      runId,
      'internal',
      `dead-lettered after ${deliveryCount} deliveries: ${lastError}`,
    ),
    dead: encodeDeadStopJob({
      source_entry_id: entry.id,
      delivery_count: String(deliveryCount),
      last_error: clip(lastError),
      dead_at_ms: String(Date.now()),
      consumer: ctx.consumer,
      entry: JSON.stringify(original?.ok ? original.record : (entry.fields ?? null)),
    }),
  };
}

function failure(
  entryId: string,
  runId: string,
  code: 'invalid_envelope' | 'internal',
  message: string,
): StopJobResultFields {
  return {
    run_id: runId,
    outcome: 'failure',
    error_code: code,
    error_message: clip(message),
    final_status: '',
    source_entry_id: entryId,
  };
}

async function deliveryCounts(ctx: BatchContext, entries: RawEntry[]) {
  const pipeline = ctx.redis.pipeline();
  for (const { id } of entries) pipeline.call('XPENDING', [ctx.streams.jobs, ctx.group, id, id, 1]);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return parsePendingCount(reply);
  });
}

async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const MAX_REMEMBERED_ERRORS = 10_000;

function rememberError(lastErrors: Map<string, string>, id: string, error: string) {
  lastErrors.delete(id);
  lastErrors.set(id, clip(error));
  // Oldest first: a Map iterates in insertion order.
  if (lastErrors.size > MAX_REMEMBERED_ERRORS) lastErrors.delete(lastErrors.keys().next().value!);
}
