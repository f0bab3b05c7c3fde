import { fileURLToPath } from 'node:url';
import type { NodeProcess, TestDatabase, TestRedis } from '@x/testkit';
import { postgres, spawnNode, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoTest } from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { type CallbackServer, callbackServer, eventsOf, parse, sleep } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

let redis: TestRedis;
let db: TestDatabase;
let cb: CallbackServer;
const children: NodeProcess[] = [];
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, db, cb] = await Promise.all([startRedis(), postgres('shard-worker-x'), callbackServer()]);
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await cb.close();
  await db.close();
  await redis.close();
});

async function cluster(
  workers: number,
  env: Record<string, string> = {},
  attempts = 3,
  partitions = 1,
  shardQueue: 'bullmq' | 'redis' = 'bullmq',
) {
  const prefix = uniqueName('swx');
  const client = await createStack({
    databaseUrl: db.url,
    redisUrl: redis.url,
    prefix,
    worker: false,
    allowedHosts: [cb.host],
    attempts,
    partitions,
    shardQueue,
  });
  stacks.push(client);
  const spawned = await Promise.all(
    Array.from({ length: workers }, () =>
      spawnNode(
        WORKER,
        {
          DATABASE_URL: db.url,
          REDIS_URL: redis.url,
          X_PREFIX: prefix,
          ALLOWED_HOSTS: cb.host,
          QUEUE_PARTITIONS: String(partitions),
          SHARD_QUEUE: shardQueue,
          ...env,
        },
        { readyTimeoutMs: 60_000 },
      ),
    ),
  );
  children.push(...spawned);
  return { client, workers: spawned };
}

type WorkerMetrics = ReturnType<import('../src/index.js').ShardWorker['metrics']>;

async function metricsOf(worker: NodeProcess): Promise<WorkerMetrics> {
  const before = worker.lines.length;
  worker.send('metrics');
  await waitFor(() => worker.lines.slice(before).some((l) => l.startsWith('METRICS ')), {
    what: 'metrics line',
  });
  const line = worker.lines.slice(before).find((l) => l.startsWith('METRICS '))!;
  return JSON.parse(line.slice('METRICS '.length));
}

/**
 * Every run terminal, counters equal to its tests, one `done`, one callback. `resentAfterKill`
 * (a worker was SIGKILLed): the callback is at-least-once across a crash (README,
 * "Callbacks"), so a kill between a POST landing and its `sent` mark has it sent again, with
 * the same `Idempotency-Key`; such a run may get it twice, and at most `resentAfterKill` runs
 * (the killed worker's POSTs in flight) may.
 */
async function expectExactlyOnce(
  client: Stack,
  runs: { id: string; failed: number }[],
  timeoutMs: number,
  callbacksTimeoutMs = 10_000,
  resentAfterKill = 0,
) {
  await waitFor(
    async () => {
      const terminal = await client.store.terminalRuns(runs.map((r) => r.id));
      return terminal.length === runs.length;
    },
    { what: 'all runs terminal', timeoutMs },
  ).catch(async (err) => {
    const terminal = new Set(
      (await client.store.terminalRuns(runs.map((r) => r.id))).map((r) => r.id),
    );
    const stuck = runs.filter((r) => !terminal.has(r.id)).slice(0, 3);
    const detail = await Promise.all(
      stuck.map(async (r) => ({
        run: await client.store.getRunById(r.id),
        events: (await eventsOf(client.log, r.id)).slice(-6).map((e) => e.json),
      })),
    );
    throw new Error(`${(err as Error).message}: ${JSON.stringify(detail).slice(0, 4000)}`);
  });
  await waitFor(() => runs.every((r) => (cb.received.get(r.id)?.length ?? 0) >= 1), {
    what: 'callbacks',
    timeoutMs: callbacksTimeoutMs,
  }).catch(async (err) => {
    const missing = runs.filter((r) => !cb.received.get(r.id));
    const detail = await Promise.all(
      missing.map(async (r) => ({
        status: (await client.store.getRunById(r.id))?.status,
        callback: await client.store.getCallback(r.id),
        events: (await eventsOf(client.log, r.id)).slice(-4).map((e) => e.json),
      })),
    );
    throw new Error(`${(err as Error).message}: ${JSON.stringify(detail).slice(0, 3000)}`);
  });
  // A finalizer killed between its terminal write and its `done` leaves the announcement to
  // the redelivery of its shard (after the lock lapses), which can come after the outbox sweep
  // has delivered the callback: wait for every `done`, then check there is exactly one.
  await waitFor(
    async () => {
      for (const r of runs) {
        if (!(await eventsOf(client.log, r.id)).some((e) => e.type === 'done')) return false;
      }
      return true;
    },
    { what: 'a done event for every run', timeoutMs: callbacksTimeoutMs },
  );
  await sleep(300);
  for (const { id, failed } of runs) {
    const run = (await client.store.getRunById(id))!;
    expect(run, id).toMatchObject({ status: 'completed', failed, shardsCompleted: run.shardCount });
    expect(run.passed + run.failed).toBe(run.total);
    const { results } = (await client.store.getResults('ws', id, { limit: 1000 }))!;
    expect(results).toHaveLength(run.total);
    const done = (await eventsOf(client.log, id)).filter((e) => e.type === 'done');
    expect(done).toHaveLength(1);
    const keys = cb.keys.get(id) ?? [];
    expect(keys.length, id).toBeGreaterThanOrEqual(1);
    expect(keys.length, id).toBeLessThanOrEqual(resentAfterKill > 0 ? 2 : 1);
    expect(new Set(keys), id).toEqual(new Set([id]));
  }
  const resent = runs.filter((r) => (cb.keys.get(r.id)?.length ?? 0) > 1);
  expect(resent.length).toBeLessThanOrEqual(resentAfterKill);
}

/**
 * A killed worker's callback is delivered by a survivor's outbox sweep: within grace +
 * interval when the kill came before the claim, lease + interval when it came during the
 * POST. Short here (defaults: 5 s / 5 s / 30 s) so that recovery is bounded well inside the
 * test's wait; the lease still leaves a live sender on loopback ample time.
 */
const FAST_OUTBOX = { graceMs: 300, intervalMs: 200, leaseMs: 2_000 };
const FAST_OUTBOX_ENV = {
  OUTBOX_GRACE_MS: String(FAST_OUTBOX.graceMs),
  OUTBOX_INTERVAL_MS: String(FAST_OUTBOX.intervalMs),
  OUTBOX_LEASE_MS: String(FAST_OUTBOX.leaseMs),
};
/** Worst-case callback recovery after a kill, plus a margin for a loaded 2-core machine. */
const CALLBACK_RECOVERY_BOUND_MS =
  Math.max(FAST_OUTBOX.leaseMs, FAST_OUTBOX.graceMs) + FAST_OUTBOX.intervalMs + 8_000;

const demo = (name: string, durationMs: number, extra: Partial<DemoTest> = {}): DemoTest => ({
  name,
  durationMs,
  ...extra,
});

describe('shard worker across processes (BullMQ, Redis, PostgreSQL)', () => {
  it('200 runs x 4 shards with mixed outcomes on two workers: exact counters, one done, one callback each', async () => {
    const { client, workers } = await cluster(2, { CONCURRENCY: '16' });
    const runs = await Promise.all(
      Array.from({ length: 200 }, async (_, r) => {
        const tests = Array.from({ length: 8 }, (_, i) =>
          demo(`t${i}`, (i + r) % 3, {
            outcome: (i * 7 + r) % 5 === 0 ? 'fail' : 'pass',
            ...(r % 10 === 0 && i === 0 ? { failAttempts: 1 } : {}),
          }),
        );
        const run = await client.coordinator.enqueueRun({
          workspaceId: 'ws',
          executor: 'demo',
          callbackUrl: cb.url,
          shards: 4,
          tests,
        });
        return { id: run.id, failed: tests.filter((t) => t.outcome === 'fail').length };
      }),
    );
    await expectExactlyOnce(client, runs, 90_000);
    const [a, b] = await Promise.all(workers.map(metricsOf));
    expect(a!.shardsCompleted + b!.shardsCompleted).toBe(800);
    expect(a!.shardsCompleted).toBeGreaterThan(0);
    expect(b!.shardsCompleted).toBeGreaterThan(0);
    expect(a!.shardsRetried + b!.shardsRetried).toBe(20);
    expect(a!.doneEvents + b!.doneEvents).toBe(200);
  });

  it.each([
    ['bullmq', 1],
    ['bullmq', 3],
    ['redis', 1],
    ['redis', 3],
  ] as const)(
    'SIGKILL of a worker in the middle of shards: the %s queue redelivers, every run still finalizes exactly once (%i queue partitions)',
    async (shardQueue, partitions) => {
      const env = { CONCURRENCY: '8', LOCK_MS: '4000', STALLED_MS: '1000', ...FAST_OUTBOX_ENV };
      const { client, workers } = await cluster(2, env, 3, partitions, shardQueue);
      const runs = await Promise.all(
        Array.from({ length: 20 }, async (_, r) => {
          const tests = Array.from({ length: 8 }, (_, i) =>
            demo(`t${i}`, 150, { outcome: (i + r) % 4 === 0 ? 'fail' : 'pass' }),
          );
          const run = await client.coordinator.enqueueRun({
            workspaceId: 'ws',
            executor: 'demo',
            callbackUrl: cb.url,
            shards: 4,
            tests,
          });
          return { id: run.id, failed: tests.filter((t) => t.outcome === 'fail').length };
        }),
      );
      const victim = workers[0]!;
      await waitFor(async () => (await metricsOf(victim)).shardsCompleted >= 2, {
        what: 'victim mid-way',
      });
      // Shards of 2 x 150 ms tests run in waves; a wave just ended, so half a shard later the
      // victim is in the middle of its next shards. The kill may still land in a finalizer's
      // announce window (after `done`, before its POST): the survivor's sweep then delivers the
      // callback, bounded by FAST_OUTBOX (see callback-crash for that window on its own).
      await sleep(150);
      expect((await metricsOf(victim)).activeShards).toBeGreaterThan(0);
      await victim.kill('SIGKILL');
      const inFlight = Number(env.CONCURRENCY);
      await expectExactlyOnce(client, runs, 40_000, CALLBACK_RECOVERY_BOUND_MS, inFlight);
    },
  );

  it.each([1, 3])(
    'an abort from another process stops every shard, keeps aborted, and emits no completion (%i queue partitions)',
    async (partitions) => {
      // The client is like an api replica: no outbox, so a worker's outbox sends the callback.
      const env = { CONCURRENCY: '2', ...FAST_OUTBOX_ENV };
      const { client, workers } = await cluster(2, env, 3, partitions);
      const run = await client.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        callbackUrl: cb.url,
        shards: 4,
        tests: [demo('a', 15_000), demo('b', 15_000), demo('c', 15_000), demo('d', 15_000)],
      });
      await waitFor(
        async () =>
          (await eventsOf(client.log, run.id)).filter(
            (e) => e.type === 'shard' && parse(e).state === 'started',
          ).length === 4,
        { what: 'four shards started' },
      );
      const t0 = performance.now();
      const answer = await client.abort.abortRun(run.id, { requestedBy: 'test' });
      expect(answer).toMatchObject({ won: true, run: { status: 'aborted' } });
      await waitFor(
        async () => {
          const m = await Promise.all(workers.map(metricsOf));
          return m.every((x) => x.activeShards === 0);
        },
        { what: 'every shard stopped', timeoutMs: 5_000 },
      );
      expect(performance.now() - t0).toBeLessThan(3_000);
      const m = await Promise.all(workers.map(metricsOf));
      expect(m[0]!.shardsAborted + m[1]!.shardsAborted).toBe(4);
      await sleep(500);
      expect(await client.store.getRunById(run.id)).toMatchObject({
        status: 'aborted',
        shardsCompleted: 0,
      });
      const events = await eventsOf(client.log, run.id);
      expect(events.filter((e) => e.type === 'done').map(parse)).toEqual([
        expect.objectContaining({ status: 'aborted' }),
      ]);
      expect(events.some((e) => e.type === 'shard' && parse(e).state === 'completed')).toBe(false);
      await waitFor(() => cb.received.get(run.id)?.length === 1, { what: 'abort callback' });
    },
  );

  it('a shard exhausting its attempts fails the run and its siblings on other workers stop', async () => {
    const { client, workers } = await cluster(2, { CONCURRENCY: '2' }, 2);
    const run = await client.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 4,
      tests: [
        demo('doomed', 300, { failAttempts: 9 }),
        demo('b', 15_000),
        demo('c', 15_000),
        demo('d', 15_000),
      ],
    });
    await waitFor(async () => (await client.store.getStatus(run.id)) === 'failed', {
      what: 'run failed',
      timeoutMs: 10_000,
    });
    await waitFor(
      async () => (await Promise.all(workers.map(metricsOf))).every((x) => x.activeShards === 0),
      { what: 'siblings stopped', timeoutMs: 5_000 },
    );
    const m = await Promise.all(workers.map(metricsOf));
    // Stopped while running, or refused at the start if the run had already failed by then.
    const stopped = m.reduce((n, x) => n + x.shardsAborted + x.shardsSkippedTerminal, 0);
    expect(stopped).toBe(3);
    expect(m[0]!.shardsCompleted + m[1]!.shardsCompleted).toBe(0);
    expect(m[0]!.runsFailed + m[1]!.runsFailed).toBe(1);
    const done = (await eventsOf(client.log, run.id)).filter((e) => e.type === 'done').map(parse);
    expect(done).toEqual([expect.objectContaining({ status: 'failed' })]);
  });
});
