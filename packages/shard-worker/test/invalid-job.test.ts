import type { RunStore } from '@x/run-store';
import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ShardJobData } from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { eventsOf, parse, sleep } from './helpers.js';

// A job the worker cannot run (unknown executor, invalid test) fails on its first attempt in
// both queues, and its run fails with the reason: no attempt could ever fix it.

let db: TestDatabase;
let redis: TestRedis;
const stacks: Stack[] = [];

beforeAll(async () => {
  [db, redis] = await Promise.all([postgres('shard-worker-invalid'), startRedis()]);
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await db.close();
  await redis.close();
});

describe.each(['memory', 'bullmq'] as const)('an invalid shard job on the %s queue', (kind) => {
  /**
   * A stack whose worker counts deliveries: every delivery of a live shard begins it once
   * (its own begin: no sibling's begin answers for it).
   */
  async function stack() {
    const begun = new Map<number, number>();
    const s = await createStack({
      databaseUrl: db.url,
      prefix: uniqueName('swi'),
      ...(kind === 'bullmq' ? { redisUrl: redis.url } : {}),
      siblingBeginWindowMs: 0,
      workerStoreFault: (store): RunStore => ({
        ...store,
        beginShard: (runId, shardIndex, ...rest) => {
          begun.set(shardIndex, (begun.get(shardIndex) ?? 0) + 1);
          return store.beginShard(runId, shardIndex, ...rest);
        },
      }),
    });
    stacks.push(s);
    return { s, begun };
  }

  /** Writes the run with its shards' tests as they are, past the coordinator's checks; the enqueuer queues them. */
  async function enqueue(s: Stack, executor: string, shards: ShardJobData['tests'][]) {
    const run = await s.store.createRun({
      workspaceId: 'ws',
      executor,
      shards: shards.map((tests) => ({ testIds: tests.map((t) => t.testId), payload: tests })),
    });
    await s.enqueuer.wake();
    return run.id;
  }

  async function failed(s: Stack, runId: string) {
    await waitFor(async () => (await s.store.getStatus(runId)) === 'failed', {
      what: `run ${runId} failed`,
      timeoutMs: 20_000,
    });
    // Long enough for a retry (backoff 20, 40 ms) to show up if there were one.
    await sleep(400);
    return (await s.store.getRunById(runId))!;
  }

  it('an unknown executor: one attempt per shard, the run failed naming it, one done', async () => {
    const { s, begun } = await stack();
    const runId = await enqueue(s, 'nope', [
      [{ testId: 'a', test: { name: 'a' } }],
      [{ testId: 'b', test: { name: 'b' } }],
    ]);
    const run = await failed(s, runId);
    expect([...begun.values()]).toEqual([1, 1]);
    expect(run.error).toMatch(/^shard [01] cannot run: no executor named nope on this worker$/);
    const events = await eventsOf(s.log, runId);
    const shard = events.filter((e) => e.type === 'shard').map(parse);
    expect(shard.filter((e) => e.state === 'retrying')).toEqual([]);
    // Only events before `done` are kept: the second shard's `failed` may come after it.
    const failedShards = shard.filter((e) => e.state === 'failed');
    expect(failedShards.length).toBeGreaterThanOrEqual(1);
    expect(failedShards.every((e) => e.attempt === 1)).toBe(true);
    const done = events.filter((e) => e.type === 'done').map(parse);
    expect(done).toEqual([expect.objectContaining({ status: 'failed' })]);
    expect(events.at(-1)?.type).toBe('done');
    // Each shard either failed as invalid or, the run already failed, was refused at its start.
    const m = s.worker!.metrics();
    expect(m.invalidJobs + m.shardsSkippedTerminal).toBe(2);
    expect(m).toMatchObject({ shardsRetried: 0, runsFailed: 1 });
  });

  it('an invalid test: its shard fails at once, the run fails naming the field, a running sibling stops', async () => {
    const { s, begun } = await stack();
    const runId = await enqueue(s, 'demo', [
      [{ testId: 'slow', test: { name: 'slow', durationMs: 20_000 } }],
      [{ testId: 'bad', test: { name: 'bad', durationMs: -1 } }],
    ]);
    const started = Date.now();
    const run = await failed(s, runId);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(begun.get(1)).toBe(1);
    expect(run.error).toMatch(/^shard 1 cannot run: test bad is invalid: durationMs: /);
    await waitFor(() => s.worker!.metrics().activeShards === 0, { what: 'sibling stopped' });
    const events = await eventsOf(s.log, runId);
    const shard = events.filter((e) => e.type === 'shard').map(parse);
    expect(shard.filter((e) => e.state === 'retrying')).toEqual([]);
    expect(shard.some((e) => e.state === 'completed')).toBe(false);
    expect(events.filter((e) => e.type === 'done').map(parse)).toEqual([
      expect.objectContaining({ status: 'failed' }),
    ]);
  });
});
