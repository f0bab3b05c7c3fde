import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { z } from 'zod';
import type { ShardJob, ShardProcessor } from './shard-queue.js';

/**
 * A W3C trace context (`traceparent`, `tracestate`) carried by a shard job from the request
 * that created its run, through the enqueue outbox (PostgreSQL) and the queue, to the worker.
 */
export const traceCarrierSchema = z.strictObject({
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
  tracestate: z.string().max(512).optional(),
});
export type TraceCarrier = z.infer<typeof traceCarrierSchema>;

const tracer = trace.getTracer('@x/shard-worker');

/**
 * The active trace context (the `POST /runs` span, say) as a carrier to store with the run;
 * undefined when no OpenTelemetry SDK is running (the API's no-op propagator writes nothing).
 */
export function currentTraceCarrier(): TraceCarrier | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const parsed = traceCarrierSchema.safeParse(carrier);
  return parsed.success ? parsed.data : undefined;
}

function carrierOf(data: unknown): TraceCarrier | undefined {
  if (typeof data !== 'object' || data === null || !('trace' in data)) return undefined;
  const parsed = traceCarrierSchema.safeParse(data.trace);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Runs each delivery of a shard job in a `shard` span whose parent is the trace the job
 * carries, so the shard's statements, Redis calls, the finalization and the callback POST
 * join the trace of the request that created the run. Without an SDK the spans are no-ops.
 */
export function tracedProcessor(processor: ShardProcessor): ShardProcessor {
  return (job: ShardJob) => {
    const carrier = carrierOf(job.data);
    const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : context.active();
    const data = job.data as { runId?: unknown; shardIndex?: unknown };
    return tracer.startActiveSpan(
      'shard',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'x.run.id': String(data.runId),
          'x.shard.index': Number(data.shardIndex),
          'messaging.message.id': job.id,
        },
      },
      parent,
      async (span) => {
        try {
          await processor(job);
        } catch (err) {
          span.recordException(err instanceof Error ? err : String(err));
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw err;
        } finally {
          span.end();
        }
      },
    );
  };
}

/** Runs `fn` in a child span named `name` of the active one (the finalization, say). */
export function inSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
}
