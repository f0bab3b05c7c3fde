import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { openPostgres } from '@x/run-store';
import { postgres, type TestDatabase, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { DemoTest } from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';

// An in-memory exporter behind the global OpenTelemetry API, as an app's SDK would register
// it: the coordinator, the enqueue outbox and the worker (memory queue) in this process.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('test');

let db: TestDatabase;
let stack: Stack;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  db = await postgres('shard-worker-trace');
  stack = await createStack({ databaseUrl: db.url, prefix: uniqueName('trace') });
});
beforeEach(() => exporter.reset());
afterAll(async () => {
  await stack?.close();
  await db?.close();
  trace.disable();
  propagation.disable();
  context.disable();
});

const tests: DemoTest[] = Array.from({ length: 6 }, (_, i) => ({ name: `t${i}`, durationMs: 5 }));

async function completed(runId: string) {
  await waitFor(async () => (await stack.store.getStatus(runId)) === 'completed', {
    what: `run ${runId} completed`,
    timeoutMs: 20_000,
  });
  // The finalizer's span ends right after its write: wait for it too.
  await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'finalize run'), {
    what: 'the finalize span',
  });
}

/** What the enqueue outbox holds for each shard, read straight from PostgreSQL. */
async function storedPayloads(runId: string): Promise<unknown[]> {
  const kdb = openPostgres(db.url, { max: 1 });
  try {
    const rows = await kdb
      .selectFrom('run_shards')
      .select('payload')
      .where('run_id', '=', runId)
      .orderBy('shard_index')
      .execute();
    return rows.map((r) => r.payload);
  } finally {
    await kdb.destroy();
  }
}

it('a run created inside a span: its trace is stored with each shard, and every shard, the finalization, under it', async () => {
  let traceId = '';
  let requestSpanId = '';
  const run = await tracer.startActiveSpan('POST /runs', async (span) => {
    traceId = span.spanContext().traceId;
    requestSpanId = span.spanContext().spanId;
    try {
      return await stack.coordinator.enqueueRun({
        workspaceId: 'w',
        executor: 'demo',
        tests,
        shards: 3,
      });
    } finally {
      span.end();
    }
  });
  await completed(run.id);

  for (const payload of await storedPayloads(run.id)) {
    expect(payload).toMatchObject({ trace: { traceparent: `00-${traceId}-${requestSpanId}-01` } });
  }
  const spans = exporter.getFinishedSpans();
  const shards = spans.filter((s) => s.name === 'shard');
  expect(shards).toHaveLength(3);
  for (const s of shards) {
    expect(s.spanContext().traceId).toBe(traceId);
    expect(s.parentSpanContext?.spanId).toBe(requestSpanId);
    expect(s.attributes['x.run.id']).toBe(run.id);
  }
  const finalize = spans.find((s) => s.name === 'finalize run')!;
  expect(finalize.spanContext().traceId).toBe(traceId);
  expect(shards.map((s) => s.spanContext().spanId)).toContain(finalize.parentSpanContext?.spanId);
});

it('a run created outside any span stores no trace (the payload stays a list of tests); its shards start traces of their own', async () => {
  const run = await stack.coordinator.enqueueRun({
    workspaceId: 'w',
    executor: 'demo',
    tests,
    shards: 2,
  });
  await completed(run.id);
  for (const payload of await storedPayloads(run.id)) expect(Array.isArray(payload)).toBe(true);
  const shards = exporter.getFinishedSpans().filter((s) => s.name === 'shard');
  expect(shards).toHaveLength(2);
  for (const s of shards) expect(s.parentSpanContext).toBeUndefined();
});
