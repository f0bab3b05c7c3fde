import { postgres, type TestDatabase, uniqueName } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createExecutorRegistry,
  createShardWorker,
  type DemoTest,
  demoExecutor,
  type RunEventsSink,
} from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { eventsOf, parse } from './helpers.js';

// A shard's completion is recorded only once its run's events from this process are in the
// event log (`RunEvents.settled`), so the `done` that follows the run's last completion, from
// whichever process, comes after them; and the wait is bounded: an event log that never
// answers delays the completion by the timeout, never forever.

let db: TestDatabase;
const stacks: Stack[] = [];
beforeAll(async () => {
  db = await postgres('settle');
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await db.close();
});

const demo = (name: string, durationMs: number): DemoTest => ({ name, durationMs });

async function setup(
  settled: NonNullable<RunEventsSink['settled']>,
  opts: { timeoutMs?: number; concurrency?: number } = {},
) {
  const s = await createStack({ databaseUrl: db.url, prefix: uniqueName('st'), worker: false });
  stacks.push(s);
  const events: RunEventsSink = {
    emit: (runId, type, payload) => s.events.emit(runId, type as never, payload as never),
    emitMany: (runId, batch) => s.events.emitMany(runId, batch as never),
    settled,
  };
  const worker = createShardWorker({
    queue: s.queue,
    store: s.store,
    events,
    aborter: s.aborter,
    registry: s.registry,
    executors: createExecutorRegistry([demoExecutor()]),
    concurrency: opts.concurrency ?? 4,
    ...(opts.timeoutMs !== undefined && { eventSettleTimeoutMs: opts.timeoutMs }),
  });
  return { s, worker };
}

describe('shard completion after the run events settle', () => {
  it('asks settled after each shard emitted its results and before its completion is stored', async () => {
    const seen: { shardsCompleted: number; results: number }[] = [];
    let s: Stack | undefined;
    const { s: stack, worker } = await setup(
      async (runId, opts) => {
        // What the store and the log hold at that moment.
        const run = await s!.store.getRunById(runId);
        const results = (await eventsOf(s!.log, runId)).filter((e) => e.type === 'result');
        seen.push({ shardsCompleted: run!.shardsCompleted, results: results.length });
        expect(opts?.signal?.aborted).toBe(false);
        return s!.events.settled(runId, opts);
        // One shard at a time: each wait sees the completions before it.
      },
      { concurrency: 1 },
    );
    s = stack;
    try {
      worker.start();
      const run = await s.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards: 4,
        tests: Array.from({ length: 8 }, (_, i) => demo(`t${i}`, 20)),
      });
      const events = await waitForDone(s, run.id);
      // One wait per shard, each before its own completion was stored.
      expect(seen.map((x) => x.shardsCompleted)).toEqual([0, 1, 2, 3]);
      // The shard completing last waited with every result of the run already in the log.
      const last = seen.find((x) => x.shardsCompleted === 3)!;
      expect(last.results).toBe(8);
      expect(events.at(-1)!.type).toBe('done');
    } finally {
      await worker.close();
    }
  });

  it('an event log that never settles delays the completion by the timeout, then it is stored anyway', async () => {
    const timeoutMs = 300;
    const asked: (number | undefined)[] = [];
    // As RunEvents.settled does while Redis stays away: nothing settles, the bound ends it.
    const { s, worker } = await setup(
      (_runId, opts) =>
        new Promise((resolve) => {
          asked.push(opts?.timeoutMs);
          setTimeout(() => resolve('gave-up'), opts?.timeoutMs ?? 60_000);
        }),
      { timeoutMs },
    );
    try {
      worker.start();
      const run = await s.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards: 2,
        tests: [demo('a', 5), demo('b', 5)],
      });
      await waitForDone(s, run.id);
      expect(await s.store.getRunById(run.id)).toMatchObject({
        status: 'completed',
        passed: 2,
        shardsCompleted: 2,
      });
      // Each shard waited with the configured bound, and the run completed regardless.
      expect(asked).toEqual([timeoutMs, timeoutMs]);
    } finally {
      await worker.close();
    }
  });
});

async function waitForDone(s: Stack, runId: string) {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const events = await eventsOf(s.log, runId);
    if (events.at(-1)?.type === 'done') {
      expect(parse(events.at(-1)!)).toMatchObject({ status: 'completed' });
      return events;
    }
    if (performance.now() > deadline) throw new Error(`run ${runId}: no done within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
