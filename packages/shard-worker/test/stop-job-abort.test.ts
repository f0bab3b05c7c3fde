// The abort use case from both of its entry points, on real Redis and PostgreSQL: an api
// replica's call (then the durable stop job it queues) and a stop job alone, each consumed by a
// worker's @x/stop-jobs consumer. One `done`, one callback (from the worker's outbox), one win.
import {
  createStopJobsConsumer,
  decodeStopJobResult,
  requestStop,
  type StopJobResultFields,
  type StopJobsConsumer,
  stopJobsStreams,
} from '@x/stop-jobs';
import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from './fixtures/stack.js';
import { type CallbackServer, callbackServer, eventsOf, sleep } from './helpers.js';

let redis: TestRedis;
let db: TestDatabase;
let cb: CallbackServer;
let client: Redis;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [redis, db, cb] = await Promise.all([startRedis(), postgres('stop-job-abort'), callbackServer()]);
  client = new Redis(redis.url);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  client.disconnect();
  await cb.close();
  await db.close();
  await redis.close();
});

/**
 * An api replica (no worker, no outbox) and a worker (shards, outbox, stop-jobs consumer) on
 * one prefix. The worker's outbox sweep waits a minute: a callback that arrives in seconds
 * was delivered by the abort path itself, not by the sweep.
 */
async function fleet() {
  const prefix = uniqueName('sja');
  const common = { databaseUrl: db.url, redisUrl: redis.url, prefix, allowedHosts: [cb.host] };
  const api = await createStack({ ...common, worker: false });
  cleanups.push(() => api.close());
  const worker = await createStack({
    ...common,
    concurrency: 4,
    outbox: { graceMs: 60_000, intervalMs: 60_000 },
  });
  cleanups.push(() => worker.close());
  const connection = new Redis(redis.url);
  cleanups.push(async () => connection.disconnect());
  const consumer: StopJobsConsumer = createStopJobsConsumer({
    redis: connection,
    prefix,
    service: worker.stopService,
    consumerName: 'worker-1',
    blockMs: 50,
  });
  await consumer.start();
  cleanups.push(() => consumer.close());
  return { prefix, api, worker };
}

async function results(prefix: string): Promise<StopJobResultFields[]> {
  const rows = (await client.xrange(stopJobsStreams(prefix).results, '-', '+')) as [
    string,
    string[],
  ][];
  return rows.map(([, fields]) => {
    const decoded = decodeStopJobResult(fields);
    if (!decoded.ok) throw new Error(decoded.detail);
    return decoded.result;
  });
}

async function resultOf(prefix: string, entryId: string): Promise<StopJobResultFields> {
  return waitFor(async () => (await results(prefix)).find((r) => r.source_entry_id === entryId), {
    what: `the result of stop job ${entryId}`,
  });
}

const stop = (prefix: string, runId: string) =>
  requestStop(client, { prefix }, { runId, reason: 'user_request', requestedBy: 'ws-a' });

async function longRun(s: Stack) {
  return s.coordinator.enqueueRun({
    workspaceId: 'ws',
    executor: 'demo',
    callbackUrl: cb.url,
    shards: 2,
    tests: [
      { name: 'a', durationMs: 30_000 },
      { name: 'b', durationMs: 30_000 },
    ],
  });
}

/** Exactly one `done` (aborted) and one callback (aborted), after a moment for strays. */
async function expectAnnouncedOnce(s: Stack, runId: string) {
  await waitFor(() => cb.received.get(runId)?.length === 1, {
    what: 'the callback',
    timeoutMs: 5_000,
  });
  await sleep(300);
  expect(cb.received.get(runId)).toEqual([expect.objectContaining({ status: 'aborted' })]);
  const done = (await eventsOf(s.log, runId)).filter((e) => e.type === 'done');
  expect(done.map((e) => JSON.parse(e.json).status)).toEqual(['aborted']);
}

describe('the abort use case, from both entry points', () => {
  it('from the api: it wins once, the stop job that follows answers replay_no_op, a worker sends the one callback', async () => {
    const { prefix, api, worker } = await fleet();
    const run = await longRun(api);
    await waitFor(() => worker.worker!.metrics().activeShards === 2, { what: 'shards running' });

    // What the api's abort route does in a fleet: the use case, then the durable stop job.
    const outcome = await api.abort.abortRun(run.id, { requestedBy: 'ws-a' });
    expect(outcome).toMatchObject({ won: true, run: { id: run.id, status: 'aborted' } });
    const entryId = await stop(prefix, run.id);
    expect(await resultOf(prefix, entryId)).toMatchObject({
      outcome: 'success',
      error_code: 'replay_no_op',
      final_status: 'aborted',
    });
    await waitFor(() => worker.worker!.metrics().activeShards === 0, { what: 'shards stopped' });
    await expectAnnouncedOnce(api, run.id);
    // The api replica has no outbox: the callback left from the worker's.
    expect(worker.outbox!.metrics()).toMatchObject({ claimed: 1, sent: 1 });
    expect(api.abort.metrics()).toMatchObject({ won: 1, doneEvents: 1 });
    expect(worker.abort.metrics()).toMatchObject({ won: 0, repeated: 1, doneEvents: 0 });
  });

  it('from a stop job alone: the worker wins, announces once; a replay answers replay_no_op and changes nothing; an unknown run is not_found', async () => {
    const { prefix, api, worker } = await fleet();
    const run = await longRun(api);
    await waitFor(() => worker.worker!.metrics().activeShards === 2, { what: 'shards running' });

    const first = await stop(prefix, run.id);
    expect(await resultOf(prefix, first)).toMatchObject({
      outcome: 'success',
      error_code: '',
      final_status: 'aborted',
    });
    await waitFor(() => worker.worker!.metrics().activeShards === 0, { what: 'shards stopped' });
    await expectAnnouncedOnce(worker, run.id);
    expect(worker.outbox!.metrics()).toMatchObject({ claimed: 1, sent: 1 });

    const before = await api.store.getRunById(run.id);
    const replay = await stop(prefix, run.id);
    expect(await resultOf(prefix, replay)).toMatchObject({
      outcome: 'success',
      error_code: 'replay_no_op',
      error_message: 'run already aborted',
      final_status: 'aborted',
    });
    await expectAnnouncedOnce(worker, run.id);
    expect(await api.store.getRunById(run.id)).toEqual(before);
    expect(await api.store.getCallback(run.id)).toMatchObject({ state: 'sent', attempts: 1 });
    expect(worker.abort.metrics()).toMatchObject({ won: 1, repeated: 1, doneEvents: 1 });

    const unknown = await stop(prefix, '00000000-0000-4000-8000-00000000abcd');
    expect(await resultOf(prefix, unknown)).toMatchObject({
      outcome: 'failure',
      error_code: 'not_found',
      final_status: '',
    });
  });
});
