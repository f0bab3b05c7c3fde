import { RunStoreError } from '@x/run-store';
import { postgres, type TestDatabase, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createExecutorRegistry,
  createShardWorker,
  type DemoTest,
  demoExecutor,
  type Executor,
  plannedRunMs,
  type RunEventsSink,
} from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { type CallbackServer, callbackServer, eventsOf, parse, sleep } from './helpers.js';

let db: TestDatabase;
let cb: CallbackServer;
const stacks: Stack[] = [];

beforeAll(async () => {
  db = await postgres('shard-worker');
  cb = await callbackServer();
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await cb.close();
  await db.close();
});

async function stack(opts: Partial<Parameters<typeof createStack>[0]> = {}) {
  const s = await createStack({
    databaseUrl: db.url,
    prefix: uniqueName('sw'),
    allowedHosts: [cb.host],
    ...opts,
  });
  stacks.push(s);
  return s;
}

const demo = (name: string, durationMs: number, extra: Partial<DemoTest> = {}): DemoTest => ({
  name,
  durationMs,
  ...extra,
});

/** A worker on the stack's parts with executors of its own (the stack's worker is off). */
function workerWith(s: Stack, executors: Executor[], events: RunEventsSink = s.events) {
  return createShardWorker({
    queue: s.queue,
    store: s.store,
    events,
    aborter: s.aborter,
    registry: s.registry,
    executors: createExecutorRegistry(executors),
  });
}

/** `count` runs at once, each of `shards` shards with one zero-duration demo test a shard. */
function instantRuns(s: Stack, count: number, shards: number) {
  return Promise.all(
    Array.from({ length: count }, () =>
      s.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards,
        tests: Array.from({ length: shards }, (_, i) => demo(`t${i}`, 0)),
      }),
    ),
  );
}

async function settled(s: Stack, runId: string) {
  await waitFor(
    async () => {
      const status = await s.store.getStatus(runId);
      return status === 'completed' || status === 'failed' || status === 'aborted';
    },
    { what: `run ${runId} terminal`, timeoutMs: 20_000 },
  );
  return (await s.store.getRunById(runId))!;
}

describe('shard worker (embedded: memory queue, PostgreSQL)', () => {
  it('finalizes every run exactly once: counters equal its tests, one done, one callback', async () => {
    const s = await stack({ concurrency: 8 });
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, r) =>
        s.coordinator.enqueueRun({
          workspaceId: 'ws',
          executor: 'demo',
          callbackUrl: cb.url,
          shards: 4,
          tests: Array.from({ length: 6 + (r % 3) }, (_, i) =>
            demo(`t${i}`, i % 3, { outcome: (i + r) % 4 === 0 ? 'fail' : 'pass' }),
          ),
        }),
      ),
    );
    for (const run of runs) {
      const final = await settled(s, run.id);
      const expectedFailed = Array.from({ length: final.total }, (_, i) => i).filter(
        (i) => (i + runs.indexOf(run)) % 4 === 0,
      ).length;
      expect(final).toMatchObject({ status: 'completed', shardsCompleted: 4, shardCount: 4 });
      expect(final.failed).toBe(expectedFailed);
      expect(final.passed + final.failed).toBe(final.total);
      const events = await eventsOf(s.log, run.id);
      expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
      expect(events.at(-1)!.type).toBe('done');
      expect(events.filter((e) => e.type === 'result')).toHaveLength(final.total);
    }
    await waitFor(() => runs.every((r) => cb.received.get(r.id)?.length === 1), {
      what: 'one callback per run',
    });
    await sleep(100);
    for (const run of runs) {
      const [body] = cb.received.get(run.id)!;
      const final = (await s.store.getRunById(run.id))!;
      expect(body).toEqual({
        runId: run.id,
        status: 'completed',
        passed: final.passed,
        failed: final.failed,
        total: final.total,
        error: null,
      });
    }
  });

  it("a run's shards starting together share one begin statement; every run still exact", async () => {
    let statements = 0;
    const s = await stack({
      concurrency: 8,
      workerStoreFault: (store) => ({
        ...store,
        beginShard: (...args) => {
          statements++;
          return store.beginShard(...args);
        },
      }),
    });
    const runs = await instantRuns(s, 10, 4);
    for (const run of runs) {
      expect(await settled(s, run.id)).toMatchObject({
        status: 'completed',
        shardsCompleted: 4,
        passed: 4,
      });
      const events = await eventsOf(s.log, run.id);
      expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
      // One `running`: only the begin that moved the run says so.
      const running = events.filter((e) => e.type === 'status' && parse(e).status === 'running');
      expect(running).toHaveLength(1);
      expect(events.filter((e) => e.type === 'shard' && parse(e).state === 'started')).toHaveLength(
        4,
      );
    }
    const m = s.worker!.metrics();
    expect(m.shardsStarted).toBe(40);
    expect(m.beginsShared).toBeGreaterThan(0);
    expect(statements + m.beginsShared).toBe(40);
  });

  it('the last completion finalizes the run itself; a store that drops the option gets finalizeRun', async () => {
    for (const dropsOption of [false, true]) {
      let finalizeCalls = 0;
      const s = await stack({
        concurrency: 4,
        workerStoreFault: (store) => ({
          ...store,
          // An older store, or a wrapper that forwards five arguments: no `finalized`.
          completeShardWithResults: (runId, shardIndex, attempt, stats, results, opts) =>
            store.completeShardWithResults(
              runId,
              shardIndex,
              attempt,
              stats,
              results,
              dropsOption ? undefined : opts,
            ),
          finalizeRun: (runId) => {
            finalizeCalls++;
            return store.finalizeRun(runId);
          },
        }),
      });
      const runs = await instantRuns(s, 4, 3);
      for (const run of runs) {
        expect(await settled(s, run.id)).toMatchObject({
          status: 'completed',
          shardsCompleted: 3,
          passed: 3,
          retryCount: 0,
        });
        const events = await eventsOf(s.log, run.id);
        expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
      }
      expect(s.worker!.metrics()).toMatchObject({ runsFinalized: 4, finalizeLost: 0 });
      // With the option the completions finalized every run; without it, finalizeRun did.
      expect(finalizeCalls).toBe(dropsOption ? 4 : 0);
      // Closed before the next: stacks on one database would take each other's runs.
      stacks.splice(stacks.indexOf(s), 1);
      await s.close();
    }
  });

  it("an abort committed after a sibling's begin read the run live still stops the shards that share it", async () => {
    let s: Stack | undefined;
    let aborted: Promise<unknown> | undefined;
    s = await stack({
      concurrency: 4,
      workerStoreFault: (store) => ({
        ...store,
        beginShard: async (...args) => {
          const begun = await store.beginShard(...args);
          // The first begin saw the run live; the abort commits before its siblings take it.
          aborted ??= s!.abort.abortRun(args[0], { requestedBy: 'tester' });
          await aborted;
          return begun;
        },
      }),
    });
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 4,
      tests: [demo('a', 10_000), demo('b', 10_000), demo('c', 10_000), demo('d', 10_000)],
    });
    const t0 = performance.now();
    await waitFor(() => s!.worker!.metrics().shardsAborted === 4, { what: 'all four stopped' });
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(s.worker!.metrics().beginsShared).toBe(3);
    await sleep(200);
    expect(await s.store.getRunById(run.id)).toMatchObject({
      status: 'aborted',
      shardsCompleted: 0,
      passed: 0,
    });
    const events = await eventsOf(s.log, run.id);
    expect(events.filter((e) => e.type === 'done').map(parse)).toEqual([
      expect.objectContaining({ status: 'aborted' }),
    ]);
    expect(events.some((e) => e.type === 'shard' && parse(e).state === 'completed')).toBe(false);
  });

  it('the finalizer sends the last progress and done in one emitMany call, progress first', async () => {
    const s = await stack({ worker: false });
    const calls: string[] = [];
    const events: RunEventsSink = {
      emit: (runId, type, payload) => {
        calls.push(`emit:${type}`);
        return s.events.emit(runId, type as never, payload as never);
      },
      emitMany: (runId, batch) => {
        calls.push(`emitMany:${batch.map((e) => e.type).join(',')}`);
        return s.events.emitMany(runId, batch as never);
      },
    };
    const worker = workerWith(s, [demoExecutor()], events);
    try {
      worker.start();
      const run = await s.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards: 1,
        tests: [demo('a', 0), demo('b', 0, { outcome: 'fail' })],
      });
      const final = await settled(s, run.id);
      await waitFor(async () => (await eventsOf(s.log, run.id)).at(-1)?.type === 'done', {
        what: 'done',
      });
      expect(calls.filter((c) => c.includes('done'))).toEqual(['emitMany:progress,done']);
      expect(calls.at(-1)).toBe('emitMany:progress,done');
      const [progress, done] = (await eventsOf(s.log, run.id)).slice(-2);
      expect(progress!.type).toBe('progress');
      expect(done!.seq).toBe(progress!.seq + 1);
      expect(parse(progress!)).toMatchObject({
        passed: 1,
        failed: 1,
        total: 2,
        shardsCompleted: 1,
      });
      expect(parse(done!)).toMatchObject({ status: 'completed', passed: 1, failed: 1, total: 2 });
      expect(final.status).toBe('completed');
    } finally {
      await worker.close();
    }
  });

  it('retries a failAttempts shard without doubling its results or counters', async () => {
    const s = await stack();
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 2,
      tests: [demo('a', 5), demo('b', 5, { failAttempts: 2 }), demo('c', 5), demo('d', 5)],
    });
    const final = await settled(s, run.id);
    expect(final).toMatchObject({ status: 'completed', total: 4, passed: 4, failed: 0 });
    expect(final.retryCount).toBe(2);
    const { results } = (await s.store.getResults('ws', run.id, { limit: 100 }))!;
    expect(results).toHaveLength(4);
    expect(new Set(results.map((r) => r.testId)).size).toBe(4);
    const shardEvents = (await eventsOf(s.log, run.id))
      .filter((e) => e.type === 'shard')
      .map((e) => parse(e));
    expect(shardEvents.filter((e) => e.state === 'retrying').map((e) => e.attempt)).toEqual([1, 2]);
    expect(shardEvents.filter((e) => e.state === 'completed')).toHaveLength(2);
    // Each result carries the attempt that produced it, the one its shard's latest `started`
    // announced: a client drops results older than that (a taken-over worker's late flush).
    const latestStarted = new Map<unknown, unknown>();
    const resultAttempts = new Map<string, unknown[]>();
    for (const e of (await eventsOf(s.log, run.id)).map((e) => parse(e))) {
      if (e.type === 'shard' && e.state === 'started') latestStarted.set(e.shardIndex, e.attempt);
      if (e.type !== 'result') continue;
      expect(e.attempt).toBe(latestStarted.get(e.shardIndex));
      const name = String(e.name);
      resultAttempts.set(name, [...(resultAttempts.get(name) ?? []), e.attempt]);
    }
    // b failed attempts 1 and 2: its only result is attempt 3's; its sibling shard ran once.
    expect(resultAttempts.get('b')).toEqual([3]);
    expect([...resultAttempts.values()].flat()).toContain(1);
  });

  it("refuses an executor's result for a sibling's test: the attempt fails, nothing is stored twice", async () => {
    const s = await stack({ worker: false, attempts: 1 });
    const demoRunner = demoExecutor();
    // Shard 1 also reports shard 0's test, once shard 0 has completed: the store no longer
    // keys results by test (0013), so only this check keeps the test from a second row.
    const strays = { ...demoRunner } as typeof demoRunner;
    strays.execute = async (input) => {
      const results = await demoRunner.execute(input);
      if (input.shardIndex !== 1) return results;
      await sleep(300);
      const sibling = ['t0', 't1'].find((id) => !input.tests.some((t) => t.testId === id))!;
      return [...results, { ...results[0]!, testId: sibling }];
    };
    const worker = workerWith(s, [strays as Executor]);
    try {
      worker.start();
      const run = await s.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards: 2,
        tests: [demo('a', 0), demo('b', 0)],
      });
      const final = await settled(s, run.id);
      expect(final.status).toBe('failed');
      expect(final.error).toMatch(/reported test "t[01]", which is not a test of shard 1/);
      const { results } = (await s.store.getResults('ws', run.id, { limit: 100 }))!;
      expect(results.map((r) => r.shardIndex)).toEqual([0]);
    } finally {
      await worker.close();
    }
  });

  it('records the failure of a last attempt once the database is back, instead of leaving the run running', async () => {
    let refused = 0;
    const s = await stack({
      attempts: 1,
      // The database is unreachable for the first two tries of the run's failed write.
      workerStoreFault: (store) => ({
        ...store,
        transition: (...args) => {
          if (args[2] === 'failed' && refused < 2) {
            refused++;
            return Promise.reject(new RunStoreError('unavailable', 'database unreachable'));
          }
          return store.transition(...args);
        },
      }),
    });
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 1,
      tests: [demo('doomed', 0, { failAttempts: 5 })],
    });
    const final = await settled(s, run.id);
    expect(refused).toBe(2);
    expect(final.status).toBe('failed');
    expect(final.error).toMatch(/failed after 1 attempt/);
    const done = (await eventsOf(s.log, run.id)).filter((e) => e.type === 'done');
    expect(done.map((e) => parse(e).status)).toEqual(['failed']);
  });

  it('fails the run when a shard exhausts its attempts, and stops its siblings', async () => {
    const s = await stack({ attempts: 2 });
    const started = Date.now();
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      callbackUrl: cb.url,
      shards: 4,
      tests: [
        demo('doomed', 0, { failAttempts: 5 }),
        demo('long1', 20_000),
        demo('long2', 20_000),
        demo('long3', 20_000),
      ],
    });
    const final = await settled(s, run.id);
    expect(final.status).toBe('failed');
    expect(final.error).toMatch(/failed after 2 attempt/);
    await waitFor(() => s.worker!.metrics().activeShards === 0, { what: 'siblings stopped' });
    expect(Date.now() - started).toBeLessThan(5_000);
    // Each sibling was stopped while running, or (on a slow machine, when the doomed shard's
    // two attempts were over before it began) refused at its start: none ran to the end.
    const m = s.worker!.metrics();
    expect(m.shardsAborted + m.shardsSkippedTerminal).toBe(3);
    expect(m.shardsCompleted).toBe(0);
    const events = await eventsOf(s.log, run.id);
    const done = events.filter((e) => e.type === 'done');
    expect(done).toHaveLength(1);
    expect(parse(done[0]!).status).toBe('failed');
    expect((await s.store.getRunById(run.id))!.shardsCompleted).toBe(0);
    await waitFor(() => cb.received.get(run.id)?.length === 1, { what: 'failure callback' });
    expect(cb.received.get(run.id)![0]!.status).toBe('failed');
  });

  it('an abort mid-run stops every shard within a moment and nothing overwrites aborted', async () => {
    const s = await stack({ concurrency: 2 });
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 4,
      tests: [demo('a', 10_000), demo('b', 10_000), demo('c', 10_000), demo('d', 10_000)],
    });
    await waitFor(() => s.worker!.metrics().shardsStarted === 2, { what: 'two shards running' });
    const t0 = performance.now();
    const result = await s.stopService.stop(
      {
        runId: run.id,
        reason: 'user_request',
        requestedAtMs: Date.now(),
        requestedBy: 'tester',
        entryId: '1-0',
        deliveryCount: 1,
      },
      { signal: new AbortController().signal },
    );
    expect(result).toEqual({
      outcome: 'success',
      errorCode: '',
      errorMessage: '',
      finalStatus: 'aborted',
    });
    await waitFor(() => s.worker!.metrics().activeShards === 0, { what: 'shards stopped' });
    expect(performance.now() - t0).toBeLessThan(1_000);
    await sleep(200);
    const final = (await s.store.getRunById(run.id))!;
    expect(final).toMatchObject({ status: 'aborted', shardsCompleted: 0, passed: 0, failed: 0 });
    const events = await eventsOf(s.log, run.id);
    const done = events.filter((e) => e.type === 'done').map(parse);
    expect(done).toEqual([expect.objectContaining({ status: 'aborted' })]);
    expect(events.some((e) => e.type === 'shard' && parse(e).state === 'completed')).toBe(false);
    // the two waiting shards were removed from the queue, the two running ones aborted
    expect(s.worker!.metrics().shardsStarted).toBe(2);
    expect(s.worker!.metrics().shardsAborted).toBe(2);
  });

  it('the stop service answers replay_no_op for a finished run and not_found for an unknown one', async () => {
    const s = await stack();
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      tests: [demo('a', 0)],
    });
    await settled(s, run.id);
    const job = {
      reason: 'user_request' as const,
      requestedAtMs: null,
      requestedBy: null,
      entryId: '1-0',
      deliveryCount: 1,
    };
    const opts = { signal: new AbortController().signal };
    expect(await s.stopService.stop({ ...job, runId: run.id }, opts)).toMatchObject({
      outcome: 'success',
      errorCode: 'replay_no_op',
      finalStatus: 'completed',
    });
    expect(
      await s.stopService.stop({ ...job, runId: '00000000-0000-4000-8000-000000000000' }, opts),
    ).toMatchObject({ outcome: 'failure', errorCode: 'not_found', finalStatus: '' });
    expect(await s.stopService.stop({ ...job, runId: 'not-a-uuid' }, opts)).toMatchObject({
      outcome: 'failure',
      errorCode: 'not_found',
    });
  });

  it('a shard of an already aborted run does nothing when it starts', async () => {
    const s = await stack({ worker: false });
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 2,
      tests: [demo('a', 0), demo('b', 0)],
    });
    // In the queue first (an aborted run still in the outbox is never enqueued at all).
    await s.enqueuer.wake();
    await s.aborter.abort(run.id, 'before start');
    const worker = workerWith(s, [demoExecutor()]);
    await waitFor(() => worker.metrics().shardsSkippedTerminal === 2, { what: 'both skipped' });
    expect(worker.metrics().shardsStarted).toBe(0);
    expect((await s.store.getRunById(run.id))!.status).toBe('aborted');
    expect((await eventsOf(s.log, run.id)).filter((e) => e.type === 'shard')).toHaveLength(0);
    await worker.close();
  });

  it('a shard delivered again after its worker died between the last shard completion and finalizeRun finalizes the run once', async () => {
    const s = await stack({ worker: false });
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 2,
      tests: [demo('a', 0), demo('b', 0, { outcome: 'fail' })],
    });
    // The enqueuer hands the queued run to the queue first (as it did before that worker got
    // the shards): a run already running is no longer claimed, so its jobs would never come.
    await s.enqueuer.wake();
    expect(s.enqueuer.metrics().runsEnqueued).toBe(1);
    // The dead worker's part: both shards begun and completed, the run never finalized.
    for (const i of [0, 1]) {
      await s.store.beginShard(run.id, i, 1);
      await s.store.completeShardWithResults(
        run.id,
        i,
        1,
        { passed: 1 - i, failed: i, skipped: 0 },
        [],
      );
    }
    expect((await s.store.getRunById(run.id))!).toMatchObject({
      status: 'running',
      shardsCompleted: 2,
    });
    const { createExecutorRegistry, demoExecutor } = await import('../src/index.js');
    const worker = createShardWorker({
      queue: s.queue,
      store: s.store,
      events: s.events,
      aborter: s.aborter,
      registry: s.registry,
      executors: createExecutorRegistry([demoExecutor()]),
      concurrency: 2,
    });
    const after = await settled(s, run.id);
    expect(after).toMatchObject({ status: 'completed', passed: 1, failed: 1, shardsCompleted: 2 });
    // The second delivery either also saw the run live (and lost finalizeRun) or saw it completed.
    await waitFor(
      () => {
        const m = worker.metrics();
        return m.duplicateCompletions + m.shardsSkippedTerminal === 2;
      },
      { what: 'both deliveries' },
    );
    const events = await eventsOf(s.log, run.id);
    // Nothing ran again: no second `started`, one `done`.
    expect(events.filter((e) => e.type === 'shard')).toHaveLength(0);
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
    expect(worker.metrics().runsFinalized).toBe(1);
    await worker.close();
  });

  it('close(deadline) requeues shards still running past it, and another worker completes them', async () => {
    const s = await stack({ worker: false });
    const { createExecutorRegistry, demoExecutor } = await import('../src/index.js');
    const make = () =>
      createShardWorker({
        queue: s.queue,
        store: s.store,
        events: s.events,
        aborter: s.aborter,
        registry: s.registry,
        executors: createExecutorRegistry([demoExecutor()]),
        concurrency: 2,
      });
    const first = make();
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 2,
      tests: [demo('quick', 50), demo('slow', 1_500)],
    });
    await waitFor(() => first.metrics().activeShards === 2, { what: 'both running' });
    await first.close(300);
    expect(first.metrics()).toMatchObject({ shardsCompleted: 1, shardsAborted: 1 });
    expect(await s.store.getStatus(run.id)).toBe('running');
    const second = make();
    const final = await settled(s, run.id);
    expect(final).toMatchObject({ status: 'completed', passed: 2, retryCount: 0 });
    expect(second.metrics().shardsCompleted).toBe(1);
    await second.close();
  });

  it('the coordinator refuses an unknown executor and invalid tests, naming the field', async () => {
    const s = await stack({ worker: false });
    await expect(
      s.coordinator.enqueueRun({ workspaceId: 'ws', executor: 'nope', tests: [] }),
    ).rejects.toMatchObject({ code: 'unknown_executor' });
    await expect(
      s.coordinator.enqueueRun({
        workspaceId: 'ws',
        executor: 'demo',
        tests: [demo('a', 0), { name: 'b', durationMs: -1 }],
      }),
    ).rejects.toThrow(/tests\.1: durationMs/);
  });

  it('bounds demo runs: a test sleeps at most 10 minutes, fails at most 10 attempts, and a run plans at most 1 hour', async () => {
    const s = await stack({ worker: false });
    const enqueue = (tests: unknown[]) =>
      s.coordinator.enqueueRun({ workspaceId: 'ws', executor: 'demo', tests });
    await expect(enqueue([demo('long', 600_001)])).rejects.toThrow(/tests\.0: durationMs/);
    await expect(enqueue([demo('stubborn', 1, { failAttempts: 11 })])).rejects.toThrow(
      /tests\.0: failAttempts/,
    );
    // The review's run: 10,000 tests of 10 minutes each, live for ten weeks.
    const weeks = Array.from({ length: 10_000 }, (_, i) => demo(`t${i}`, 600_000));
    await expect(enqueue(weeks)).rejects.toMatchObject({
      code: 'invalid_input',
      field: 'tests',
      message: expect.stringMatching(/add up to 6000000000 ms; a run may plan at most 3600000 ms/),
    });
    expect(plannedRunMs(weeks)).toBe(6_000_000_000);
    // Exactly one hour is fine.
    const hour = await enqueue(Array.from({ length: 6 }, (_, i) => demo(`t${i}`, 600_000)));
    expect(hour.status).toBe('queued');
  });
});
