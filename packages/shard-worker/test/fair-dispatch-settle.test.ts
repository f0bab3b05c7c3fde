import type { Run } from '@x/run-store';
import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFairDispatcher, type DemoTest } from '../src/index.js';
import { createStack, type Stack, type StackOptions } from './fixtures/stack.js';
import { sleep } from './helpers.js';

// Shard ends ask the fair dispatcher for a pass in batches (`shardSettled`): a full batch at
// once, fewer after a delay, and any pass serves the ends before it. Real BullMQ on Redis and
// PostgreSQL; the timed pass is a minute, so every pass here is one the test caused.

let redis: TestRedis;
let db: TestDatabase;
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), postgres('shard-worker-fair-settle')]);
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await db.close();
  await redis.close();
});

const MINUTE = 60_000;

async function stack(fair: NonNullable<StackOptions['fair']>, worker = false) {
  const s = await createStack({
    databaseUrl: db.url,
    redisUrl: redis.url,
    prefix: uniqueName('settle'),
    worker,
    concurrency: 8,
    fair: { intervalMs: MINUTE, ...fair },
  });
  stacks.push(s);
  // `start` runs the first pass at once.
  await waitFor(() => s.dispatcher!.metrics().passes === 1, { what: 'first pass' });
  return { s, d: s.dispatcher! };
}

const demo = (n: number, durationMs: number): DemoTest[] =>
  Array.from({ length: n }, (_, i) => ({ name: `t${i}`, durationMs }));

describe('fair dispatcher: batched shard ends', () => {
  it('runs one pass when settleBatch shards ended, none before', async () => {
    const { d } = await stack({ window: 4, settleBatch: 3, settleDelayMs: MINUTE });
    d.shardSettled();
    d.shardSettled();
    await sleep(200);
    expect(d.metrics()).toMatchObject({ passes: 1, shardsSettled: 2, settlePasses: 0 });
    d.shardSettled();
    await waitFor(() => d.metrics().passes === 2, { what: 'batch pass' });
    expect(d.metrics()).toMatchObject({ shardsSettled: 3, settlePasses: 1 });
  });

  it('runs a pass settleDelayMs after the first unserved end when the batch does not fill', async () => {
    const { d } = await stack({ window: 4, settleBatch: 100, settleDelayMs: 150 });
    const t0 = performance.now();
    d.shardSettled();
    await sleep(30);
    // A later end does not push the pass back: the delay runs from the first one.
    d.shardSettled();
    await waitFor(() => d.metrics().passes === 2, { what: 'delayed pass' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    expect(performance.now() - t0).toBeLessThan(150 + 1_000);
    await sleep(300);
    expect(d.metrics()).toMatchObject({ passes: 2, shardsSettled: 2, settlePasses: 1 });
  });

  it('a pass for another reason serves the ends before it: the count starts again', async () => {
    const { d } = await stack({ window: 4, settleBatch: 3, settleDelayMs: MINUTE });
    d.shardSettled();
    d.shardSettled();
    await d.wake();
    expect(d.metrics().passes).toBe(2);
    d.shardSettled();
    d.shardSettled();
    await sleep(200);
    expect(d.metrics()).toMatchObject({ passes: 2, shardsSettled: 4, settlePasses: 0 });
    d.shardSettled();
    await waitFor(() => d.metrics().passes === 3, { what: 'batch pass after the reset' });
  });

  it('shard ends alone keep a flood moving, in fewer passes than ends, each run completed once', async () => {
    // Window 4, so the 48 shards need a dozen releases; the timed pass (a minute) never comes.
    const { s, d } = await stack({ window: 4, settleBatch: 2, settleDelayMs: 20 }, true);
    const workspaceId = uniqueName('flood');
    const runs: Run[] = [];
    for (let i = 0; i < 12; i++) {
      runs.push(
        await s.coordinator.enqueueRun({
          workspaceId,
          executor: 'demo',
          shards: 4,
          tests: demo(4, 20),
        }),
      );
    }
    await waitFor(async () => (await s.store.terminalRuns(runs.map((r) => r.id))).length === 12, {
      what: 'flood completed',
      timeoutMs: 30_000,
    });
    for (const run of runs) {
      const r = (await s.store.getRunById(run.id))!;
      expect(r).toMatchObject({ status: 'completed', shardsCompleted: 4, passed: 4, total: 4 });
    }
    const m = d.metrics();
    expect(m.shardsSettled).toBe(48);
    expect(m.shardsReleased).toBe(48);
    expect(m.settlePasses).toBeGreaterThan(0);
    expect(m.settlePasses).toBeLessThan(m.shardsSettled);
  });

  it('refuses a settleBatch or settleDelayMs below 1', () => {
    const base = { store: {} as never, queue: {} as never };
    expect(() => createFairDispatcher({ ...base, settleBatch: 0 })).toThrow(/settleBatch/);
    expect(() => createFairDispatcher({ ...base, settleDelayMs: 0 })).toThrow(/settleDelayMs/);
  });
});
