import {
  postgres,
  startRedis,
  type TestDatabase,
  type TestRedis,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { type CallbackReceiver, callbackReceiver } from './support/callback-receiver.js';
import {
  type ApiProcess,
  FLEET_TOKEN,
  startApiProcess,
  startWorkerProcess,
  type WorkerProcess,
} from './support/fleet.js';
import { otlpReceiver } from './support/otlp-receiver.js';

let redis: TestRedis;
let db: TestDatabase;
let receiver: CallbackReceiver;
let collector: Awaited<ReturnType<typeof otlpReceiver>>;
let api: ApiProcess;
let worker: WorkerProcess;

beforeAll(async () => {
  [redis, db, receiver, collector] = await Promise.all([
    startRedis(),
    postgres('tracing'),
    callbackReceiver(),
    otlpReceiver(),
  ]);
  const env = { REDIS_URL: redis.url, DATABASE_URL: db.url, X_PREFIX: uniqueName('otel') };
  const otel = {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    CALLBACK_ALLOWED_HOSTS: receiver.host,
  };
  [api, worker] = await Promise.all([
    startApiProcess(env, otel),
    startWorkerProcess(env, { ...otel, LOG_LEVEL: 'debug' }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([api?.proc.kill('SIGTERM'), worker?.proc.kill('SIGTERM')]);
  await Promise.all([receiver?.close(), collector?.close(), redis?.close(), db?.close()]);
});

it('one trace follows a run: POST /runs on the api, every shard and the finalization on the worker, the callback POST; worker log lines carry its trace id', async () => {
  const client = apiClient(api.url, FLEET_TOKEN);
  const created = await client.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(6, 20),
    shards: 3,
    callbackUrl: receiver.url,
  });
  expect(created.status).toBe(201);
  const runId = created.body.run.id;
  await waitFor(() => receiver.bodiesOf(runId).length > 0, {
    timeoutMs: 60_000,
    what: 'the callback',
  });

  // The callback carries the trace on: its traceparent names the run's trace.
  const callback = receiver.requests.find((r) => r.raw.includes(runId))!;
  const traceId = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(
    callback.headers.traceparent ?? '',
  )?.[1];
  expect(traceId, `traceparent ${callback.headers.traceparent}`).toBeDefined();

  const ofTrace = () => collector.spans.filter((s) => s.traceId === traceId);
  await waitFor(
    () => {
      const spans = ofTrace();
      return (
        spans.filter((s) => s.service === 'x-worker' && s.name === 'shard').length === 3 &&
        spans.some((s) => s.name === 'finalize run') &&
        spans.some((s) => s.service === 'x-worker' && s.kind === 3 && s.name === 'POST')
      );
    },
    { timeoutMs: 30_000, what: 'the worker spans of the trace' },
  );
  const spans = ofTrace();
  const byId = new Map(spans.map((s) => [s.spanId, s]));

  // The root: the api's server span of POST /api/v1/runs.
  const root = spans.find((s) => s.service === 'x-api' && s.kind === 2 && s.parentSpanId === '');
  expect(root, JSON.stringify(spans.map((s) => [s.service, s.name, s.kind]))).toBeDefined();
  expect(root!.name).toMatch(/^POST/);
  expect(
    String(root!.attributes['http.route'] ?? root!.attributes['url.path'] ?? root!.name),
  ).toMatch(/runs/);
  // The api's statements (pg) are in it too.
  expect(
    spans.some((s) => s.service === 'x-api' && s.attributes['db.system.name'] === 'postgresql'),
  ).toBe(true);

  // Every shard span hangs off the request's trace (through PostgreSQL and BullMQ), one per shard.
  const shards = spans.filter((s) => s.name === 'shard');
  expect(shards.map((s) => s.attributes['x.shard.index']).sort()).toEqual([0, 1, 2]);
  for (const s of shards) {
    expect(s.attributes['x.run.id']).toBe(runId);
    expect(s.kind).toBe(5);
  }
  // The worker's database and Redis calls, the finalization and the callback POST are children
  // of shard spans (walk up to a shard).
  const underShard = (s: (typeof spans)[number]) => {
    for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId))
      if (p.name === 'shard') return true;
    return false;
  };
  const finalize = spans.find((s) => s.name === 'finalize run')!;
  expect(underShard(finalize)).toBe(true);
  const post = spans.find((s) => s.service === 'x-worker' && s.kind === 3 && s.name === 'POST')!;
  expect(underShard(post)).toBe(true);
  expect(
    spans.some(
      (s) =>
        s.service === 'x-worker' &&
        s.attributes['db.system.name'] === 'postgresql' &&
        underShard(s),
    ),
  ).toBe(true);
  expect(
    spans.some(
      (s) =>
        s.service === 'x-worker' && s.attributes['db.system.name'] === 'redis' && underShard(s),
    ),
  ).toBe(true);

  // Logs: a worker line written inside the trace carries its id.
  expect(worker.proc.lines.some((l) => l.includes(`"trace_id":"${traceId}"`))).toBe(true);
});
