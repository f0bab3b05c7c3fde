import type { Run, RunStore } from '@x/run-store';
import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createShardRepair, type DemoTest, shardJobId } from '../src/index.js';
import { createStack, type Stack, type StackOptions } from './fixtures/stack.js';
import { type CallbackServer, callbackServer, eventsOf, sleep } from './helpers.js';

// PostgreSQL holds the truth: a run is written there first and enqueued from there, so a
// Redis outage delays it instead of failing it, and a Redis that comes back empty gets the
// lost shards again from the repair sweep. In-process stacks on a real Redis that is killed
// and restarted; the apps' tests do the same with real processes.

let db: TestDatabase;
let redis: TestRedis;
let cb: CallbackServer;
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, cb] = await Promise.all([startRedis(), callbackServer()]);
});
// A database per test: the repair sweeps every live run in its database, so a run an earlier
// test left queued (it failed midway) would be enqueued again into this test's queue.
beforeEach(async () => {
  db = await postgres('shard-worker-outbox');
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  await db.close();
});
afterAll(async () => {
  await cb.close();
  await redis.close();
});

async function stack(prefix: string, opts: Partial<StackOptions> = {}) {
  const s = await createStack({
    databaseUrl: db.url,
    redisUrl: redis.url,
    prefix,
    allowedHosts: [cb.host],
    ...opts,
  });
  stacks.push(s);
  return s;
}

const demo = (n: number, durationMs: number): DemoTest[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `t${i}`,
    durationMs,
    outcome: i % 3 === 0 ? 'fail' : 'pass',
  }));
const failedOf = (n: number) =>
  Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0).length;

async function settled(s: Stack, runId: string, timeoutMs = 30_000) {
  await waitFor(
    async () => ['completed', 'failed', 'aborted'].includes((await s.store.getStatus(runId))!),
    { what: `run ${runId} terminal`, timeoutMs },
  );
  return (await s.store.getRunById(runId))!;
}

/** Completed with exact counts, every result once, one `done`, one callback. */
async function expectExactlyOnce(s: Stack, runId: string, tests: number, shards: number) {
  const final = await settled(s, runId);
  expect(final).toMatchObject({
    status: 'completed',
    total: tests,
    failed: failedOf(tests),
    passed: tests - failedOf(tests),
    shardsCompleted: shards,
  });
  const results = await s.store.getResults(final.workspaceId, runId, { limit: 1_000 });
  expect(results?.results).toHaveLength(tests);
  const events = await eventsOf(s.log, runId);
  expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  await waitFor(() => (cb.received.get(runId)?.length ?? 0) >= 1, {
    what: `the callback of ${runId}`,
  });
  await sleep(300);
  expect(cb.received.get(runId)).toHaveLength(1);
}

describe('enqueue outbox and repair on BullMQ', () => {
  it('runs created while Redis is down are written and answered at once, and run exactly once when it is back', async () => {
    const s = await stack(uniqueName('eo'), { concurrency: 8 });
    await redis.kill();
    const runs: Run[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        runs.push(
          await s.coordinator.enqueueRun({
            workspaceId: 'ws',
            executor: 'demo',
            callbackUrl: cb.url,
            tests: demo(6, 20),
            shards: 3,
          }),
        );
        // Nothing waits for Redis: one PostgreSQL statement.
        expect(Date.now() - started).toBeLessThan(1_000);
      }
      await sleep(500);
      for (const run of runs) expect(await s.store.getStatus(run.id)).toBe('queued');
    } finally {
      await redis.restart();
    }
    for (const run of runs) await expectExactlyOnce(s, run.id, 6, 3);
    expect(s.enqueuer.metrics()).toMatchObject({ runsEnqueued: 3, shardsEnqueued: 9 });
  });

  it.each([1, 3])(
    'a Redis restarted empty: the repair enqueues the lost shards again, never an aborted run’s, and every run finishes once (%i queue partitions)',
    async (partitions) => {
      const prefix = uniqueName('rp');
      // The api side: enqueues and repairs, runs nothing, so the shards wait in Redis.
      const api = await stack(prefix, { worker: false, repairIntervalMs: 60_000, partitions });
      const runs: Run[] = [];
      for (let i = 0; i < 6; i++) {
        runs.push(
          await api.coordinator.enqueueRun({
            workspaceId: 'ws',
            executor: 'demo',
            callbackUrl: cb.url,
            tests: demo(8, 10),
            shards: 4,
          }),
        );
      }
      const [victim, ...kept] = runs as [Run, ...Run[]];
      await waitFor(
        async () => (await api.queue.missing(runs.map((r) => shardJobId(r.id, 0)))).length === 0,
        {
          what: 'every run enqueued',
        },
      );
      expect((await api.abort.abortRun(victim.id, { requestedBy: 'ws' }))?.run.status).toBe(
        'aborted',
      );
      const before = api.repair!.metrics();
      await redis.restart();
      // The restart's `ready` ran a sweep: 5 runs x 4 shards came back, the aborted run's did not.
      // The recovery time is set by the first sweep that starts after the last `ready` (a
      // `ready` that comes during a sweep asks for another one): wait for it too.
      await waitFor(
        () => {
          const m = api.repair!.metrics();
          return m.sweeps > before.sweeps && m.shardsReenqueued === 20 && m.lastRecoveryMs >= 0;
        },
        {
          what: 'the repair sweep after the restart',
        },
      );
      expect(api.repair!.metrics()).toMatchObject({
        shardsReenqueued: 20,
        runsRepaired: 5,
        unusableRuns: 0,
      });
      expect(api.repair!.metrics().lastRecoveryMs).toBeGreaterThanOrEqual(0);
      const victimIds = [0, 1, 2, 3].map((i) => shardJobId(victim.id, i));
      expect(await api.queue.missing(victimIds)).toEqual(victimIds);
      // A second sweep finds nothing missing: the queue holds them all again.
      await api.repair!.sweep();
      expect(api.repair!.lastOutcome).toEqual({ leader: true, shards: 0, runs: 0 });
      // Another instance is not the repairer while this one's lease runs.
      const other = createShardRepair({ store: api.store, queue: api.queue, intervalMs: 60_000 });
      await other.sweep();
      expect(other.lastOutcome).toEqual({ leader: false, shards: 0, runs: 0 });
      await other.close();
      // BullMQ's meta hash came back with the reconnect, in every partition.
      const names = api.queue.queueNames!;
      expect(names).toHaveLength(partitions);
      for (const name of names) {
        expect((await api.redis!.hgetall(`${name}:meta`)).version).toMatch(/^bullmq:/);
      }
      await stack(prefix, { concurrency: 8, partitions });
      for (const run of kept) await expectExactlyOnce(api, run.id, 8, 4);
      expect(await api.store.getStatus(victim.id)).toBe('aborted');
    },
  );

  it('a shard enqueued again while a live worker still executes it runs twice, and the counts stay exact', async () => {
    const prefix = uniqueName('dup');
    const api = await stack(prefix, { worker: false, repairIntervalMs: 60_000 });
    // The first worker's completions land late (the worst order: the duplicates complete
    // first), and it has exactly as many slots as shards, so it takes no duplicate itself.
    const first = await stack(prefix, {
      concurrency: 4,
      workerStoreFault: (store): RunStore => ({
        ...store,
        completeShardWithResults: async (...args) => {
          await sleep(4_000);
          return store.completeShardWithResults(...args);
        },
      }),
    });
    const run = await api.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      callbackUrl: cb.url,
      tests: demo(8, 1_000),
      shards: 4,
    });
    await waitFor(() => first.worker!.metrics().shardsStarted === 4, {
      what: 'all 4 shards running',
    });
    // Redis forgets the active jobs and their locks; the shards go on running in `first`.
    await redis.restart();
    await waitFor(() => api.repair!.lastOutcome?.shards === 4, {
      what: 'the 4 shards re-enqueued',
    });
    const second = await stack(prefix, { concurrency: 4 });
    await expectExactlyOnce(api, run.id, 8, 4);
    // Each shard ran twice: the duplicates completed the run, the originals' completions
    // then applied nothing.
    expect(second.worker!.metrics()).toMatchObject({ shardsStarted: 4, shardsCompleted: 4 });
    await waitFor(() => first.worker!.metrics().duplicateCompletions === 4, {
      what: 'the originals’ completions, not applied',
    });
    expect(first.worker!.metrics()).toMatchObject({ shardsCompleted: 0, runsFinalized: 0 });
    expect((await api.store.getRunById(run.id))!).toMatchObject({ passed: 8 - failedOf(8) });
  });
});
