import { createRunAborter, createShardRegistry } from '@x/run-abort';
import { type RunStore, RunStoreError } from '@x/run-store';
import { postgres, type TestDatabase, uniqueName } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAbortRun, createRunStopService, type ShardQueue } from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { eventsOf, parse } from './helpers.js';

let db: TestDatabase;
const stacks: Stack[] = [];
beforeAll(async () => {
  db = await postgres('abort-run');
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await db.close();
});

/** An embedded stack with no worker, so a run's shard jobs stay waiting in the queue. */
async function idleStack() {
  const s = await createStack({ databaseUrl: db.url, prefix: uniqueName('abort'), worker: false });
  stacks.push(s);
  return s;
}

/** The real store, counting every call made through it (each is one database round trip). */
function countingStore(store: RunStore) {
  const calls: string[] = [];
  const counted = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: counted, calls };
}

/**
 * The real queue, whose cleanup waits for `open()`: a slow (or down) Redis, made deterministic.
 * `onCleanup` runs as each cleanup is called (before the gate).
 */
function gatedQueue(queue: ShardQueue, onCleanup?: (runId: string) => Promise<void>) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let cleanups = 0;
  const gated: ShardQueue = Object.assign(Object.create(queue) as ShardQueue, {
    async removeWaiting(runId: string, shardCount: number) {
      cleanups++;
      await onCleanup?.(runId);
      await gate;
      return queue.removeWaiting(runId, shardCount);
    },
  });
  return { queue: gated, open, cleanups: () => cleanups };
}

const enqueue = (s: Stack, shards: number) =>
  s.coordinator.enqueueRun({
    workspaceId: 'ws',
    executor: 'demo',
    shards,
    tests: Array.from({ length: shards }, (_, i) => ({ name: `t${i}`, durationMs: 0 })),
  });

const job = (runId: string) => ({
  runId,
  reason: 'user_request' as const,
  requestedAtMs: Date.now(),
  requestedBy: 'tester',
  entryId: '1-0',
  deliveryCount: 1,
});
const signal = () => new AbortController().signal;

describe('the abort use case', () => {
  it('answers from its status write, the one store round trip, emits done without waiting for the queue cleanup, and cleans up after it', async () => {
    const s = await idleStack();
    const run = await enqueue(s, 4);
    const { store, calls } = countingStore(s.store);
    // Whether the run's `done` was in the history when the cleanup was called.
    const doneBeforeCleanup: boolean[] = [];
    const gated = gatedQueue(s.queue, async (runId) => {
      doneBeforeCleanup.push((await eventsOf(s.log, runId)).some((e) => e.type === 'done'));
    });
    const abort = createAbortRun({
      store,
      aborter: createRunAborter({ bus: s.bus, store, registry: createShardRegistry() }),
      queue: gated.queue,
      events: s.events,
    });
    // Resolves while the cleanup is held: the answer never waits on Redis.
    const outcome = await abort.abortRun(run.id, { requestedBy: 'tester' });
    expect(outcome).toEqual({
      won: true,
      run: expect.objectContaining({ id: run.id, status: 'aborted', error: 'aborted by tester' }),
      announced: expect.any(Promise),
    });
    expect(calls).toEqual(['transition']);
    // `announced` settles once done is appended, while the cleanup is still held.
    await outcome!.announced;
    expect((await eventsOf(s.log, run.id)).some((e) => e.type === 'done')).toBe(true);
    // The cleanup was called after the append (its command must not go out before `done`).
    await vi.waitFor(() => expect(doneBeforeCleanup).toEqual([true]));
    expect(gated.cleanups()).toBe(1);
    const done = (await eventsOf(s.log, run.id)).filter((e) => e.type === 'done').map(parse);
    expect(done).toEqual([expect.objectContaining({ status: 'aborted', passed: 0, total: 4 })]);
    gated.open();
    await abort.close();
    // The cleanup ran for real: no shard job of the run is left waiting.
    expect(await s.queue.removeWaiting(run.id, 4)).toBe(0);
    expect(abort.metrics()).toMatchObject({ won: 1, doneEvents: 1, cleanupErrors: 0 });
  });

  it('a second abort loses: it answers the first one\u2019s run, and emits and cleans nothing', async () => {
    const s = await idleStack();
    const run = await enqueue(s, 2);
    const first = await s.abort.abortRun(run.id, { requestedBy: 'ws-a' });
    await s.abort.close();
    const gated = gatedQueue(s.queue);
    const again = createAbortRun({
      store: s.store,
      aborter: s.aborter,
      queue: gated.queue,
      events: s.events,
    });
    const second = await again.abortRun(run.id.toUpperCase(), { requestedBy: 'ws-b' });
    expect(second).toEqual({ won: false, run: first!.run });
    expect(second!.run.error).toBe('aborted by ws-a');
    await again.close();
    expect(gated.cleanups()).toBe(0);
    expect((await eventsOf(s.log, run.id)).filter((e) => e.type === 'done')).toHaveLength(1);
    expect(again.metrics()).toMatchObject({ won: 0, repeated: 1, doneEvents: 0 });
  });
});

describe('the stop service', () => {
  it('a replay after a crashed first delivery answers replay_no_op and changes nothing', async () => {
    const s = await idleStack();
    const run = await enqueue(s, 2);
    // The first delivery wrote the status and died before anything else.
    await s.aborter.abort(run.id, 'aborted by tester');
    const before = await s.store.getRunById(run.id);
    const gated = gatedQueue(s.queue);
    const abort = createAbortRun({
      store: s.store,
      aborter: s.aborter,
      queue: gated.queue,
      events: s.events,
    });
    const result = await createRunStopService(abort).stop(job(run.id), { signal: signal() });
    expect(result).toEqual({
      outcome: 'success',
      errorCode: 'replay_no_op',
      errorMessage: 'run already aborted',
      finalStatus: 'aborted',
    });
    await abort.close();
    expect(await s.store.getRunById(run.id)).toEqual(before);
    expect((await eventsOf(s.log, run.id)).filter((e) => e.type === 'done')).toHaveLength(0);
    // Winner-only: the shard jobs the crash left are refused by their start check instead.
    expect(gated.cleanups()).toBe(0);
  });

  it('an unknown run is not_found without a write, and a store failure throws so the job is retried', async () => {
    const s = await idleStack();
    const { store, calls } = countingStore(s.store);
    const abort = createAbortRun({
      store,
      aborter: createRunAborter({ bus: s.bus, store, registry: createShardRegistry() }),
      queue: s.queue,
      events: s.events,
    });
    const service = createRunStopService(abort);
    expect(
      await service.stop(job('00000000-0000-4000-8000-000000000000'), { signal: signal() }),
    ).toEqual({
      outcome: 'failure',
      errorCode: 'not_found',
      errorMessage: 'run 00000000-0000-4000-8000-000000000000 not found',
      finalStatus: '',
    });
    expect(calls).toEqual(['transition']);
    expect(await service.stop(job('not-a-uuid'), { signal: signal() })).toMatchObject({
      errorCode: 'not_found',
    });
    expect(calls).toEqual(['transition']);
    const broken = createRunStopService(
      createAbortRun({
        store,
        aborter: { abort: () => Promise.reject(new RunStoreError('unavailable', 'db down')) },
        queue: s.queue,
        events: s.events,
      }),
    );
    await expect(
      broken.stop(job('00000000-0000-4000-8000-000000000001'), { signal: signal() }),
    ).rejects.toThrow('db down');
  });

  it('a stop whose signal is already aborted writes nothing', async () => {
    const s = await idleStack();
    const run = await enqueue(s, 1);
    const controller = new AbortController();
    controller.abort(new Error('batch deadline'));
    await expect(s.stopService.stop(job(run.id), { signal: controller.signal })).rejects.toThrow(
      'batch deadline',
    );
    expect(await s.store.getStatus(run.id)).toBe('queued');
  });
});
