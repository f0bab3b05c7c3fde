import { createRunAborter, createShardRegistry } from '@x/run-abort';
import type { RunStore } from '@x/run-store';
import { postgres, type TestDatabase, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRunStopService, type ShardQueue } from '../src/index.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { eventsOf, parse } from './helpers.js';

let db: TestDatabase;
const stacks: Stack[] = [];
beforeAll(async () => {
  db = await postgres('stop-service');
});
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await db.close();
});

/** An embedded stack with no worker, so a run's shard jobs stay waiting in the queue. */
async function idleStack() {
  const s = await createStack({ databaseUrl: db.url, prefix: uniqueName('stop'), worker: false });
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

/** The real queue, whose cleanup waits for `open()`: a slow Redis, made deterministic. */
function gatedQueue(queue: ShardQueue) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let cleanupStarted = false;
  const gated: ShardQueue = Object.assign(Object.create(queue) as ShardQueue, {
    async removeWaiting(runId: string, shardCount: number) {
      cleanupStarted = true;
      await gate;
      return queue.removeWaiting(runId, shardCount);
    },
  });
  return { queue: gated, open, started: () => cleanupStarted };
}

const job = (runId: string) => ({
  runId,
  reason: 'user_request',
  requestedAtMs: Date.now(),
  requestedBy: 'tester',
  entryId: '1-0',
});

describe('run stop service', () => {
  it('emits done after one store round trip (the status write), before the queue cleanup finishes', async () => {
    const s = await idleStack();
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 4,
      tests: ['a', 'b', 'c', 'd'].map((name) => ({ name, durationMs: 0 })),
    });
    const { store, calls } = countingStore(s.store);
    const gated = gatedQueue(s.queue);
    const service = createRunStopService({
      store,
      aborter: createRunAborter({ bus: s.bus, store, registry: createShardRegistry() }),
      queue: gated.queue,
      events: s.events,
    });
    const stopping = service.stop(job(run.id));
    await waitFor(async () => (await eventsOf(s.log, run.id)).some((e) => e.type === 'done'), {
      what: 'done while the cleanup is held',
    });
    expect(calls).toEqual(['transition']);
    const done = (await eventsOf(s.log, run.id)).filter((e) => e.type === 'done').map(parse);
    expect(done).toEqual([expect.objectContaining({ status: 'aborted', passed: 0, total: 4 })]);
    expect(gated.started()).toBe(true);
    gated.open();
    expect(await stopping).toEqual({
      outcome: 'success',
      errorCode: '',
      errorMessage: '',
      finalStatus: 'aborted',
    });
    // The cleanup ran for real: no shard job of the run is left waiting.
    expect(await s.queue.removeWaiting(run.id, 4)).toBe(0);
    // The run says who stopped it, in words.
    expect((await s.store.getRunById(run.id))?.error).toBe('aborted by tester');
  });

  it('a replay clears waiting shard jobs a crashed first delivery left, without a second done', async () => {
    const s = await idleStack();
    const run = await s.coordinator.enqueueRun({
      workspaceId: 'ws',
      executor: 'demo',
      shards: 2,
      tests: [
        { name: 'a', durationMs: 0 },
        { name: 'b', durationMs: 0 },
      ],
    });
    // The first delivery wrote the status and died before anything else.
    await s.aborter.abortRun(run.id, 'aborted by tester');
    const result = await s.stopService.stop(job(run.id));
    expect(result).toMatchObject({
      outcome: 'success',
      errorCode: 'replay_no_op',
      finalStatus: 'aborted',
    });
    expect(await s.queue.removeWaiting(run.id, 2)).toBe(0);
    expect((await eventsOf(s.log, run.id)).filter((e) => e.type === 'done')).toHaveLength(0);
  });

  it('an unknown run is not_found without a write, and a store failure throws so the job is retried', async () => {
    const s = await idleStack();
    const { store, calls } = countingStore(s.store);
    const service = createRunStopService({
      store,
      aborter: createRunAborter({ bus: s.bus, store, registry: createShardRegistry() }),
      queue: s.queue,
      events: s.events,
    });
    expect(await service.stop(job('00000000-0000-4000-8000-000000000000'))).toMatchObject({
      outcome: 'failure',
      errorCode: 'not_found',
      finalStatus: '',
    });
    expect(calls).toEqual(['transition']);
    const broken = createRunStopService({
      store,
      aborter: {
        abortRun: () =>
          Promise.reject(Object.assign(new Error('db down'), { code: 'unavailable' })),
      },
      queue: s.queue,
      events: s.events,
    });
    await expect(broken.stop(job('00000000-0000-4000-8000-000000000001'))).rejects.toThrow(
      'db down',
    );
  });
});
