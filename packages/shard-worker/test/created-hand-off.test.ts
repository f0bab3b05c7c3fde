import { createRunStore, migrate, openPostgres } from '@x/run-store';
import { postgres, type TestDatabase, waitFor } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createCoordinator,
  createShardEnqueuer,
  memoryShardQueue,
  type ShardJobData,
  type ShardQueue,
} from '../src/index.js';

// A run the coordinator creates is claimed for this process's enqueuer in its create and
// handed over with the payloads in hand: no claim statement, no read back. The outbox stays
// the truth: a queue that refuses gets the claim back, and a pass enqueues the run later.

let database: TestDatabase;
let db: ReturnType<typeof openPostgres>;

beforeAll(async () => {
  database = await postgres('shard-worker-hand-off');
  db = openPostgres(database.url, { max: 4 });
  await migrate(db);
});
afterAll(async () => {
  await db.destroy();
  await database.close();
});

it('the coordinator hands the runs it creates to the queue itself: no claim, one queue call and one mark for those created while one is in flight; refused, a pass takes the run', async () => {
  const store = createRunStore(db);
  const calls = { claimEnqueues: 0, markEnqueued: 0 };
  const inner = memoryShardQueue();
  const added: ShardJobData[][] = [];
  let refuse = false;
  // The first queue call waits for `open`: the runs created meanwhile queue up behind it.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const queue: Pick<ShardQueue, 'add'> = {
    add: async (jobs, options) => {
      if (refuse) throw new Error('queue down');
      added.push([...jobs]);
      if (added.length === 1) await gate;
      await inner.add(jobs, options);
    },
  };
  // Not started: only the hand-offs and the explicit wake below run.
  const enqueuer = createShardEnqueuer({
    store: {
      claimEnqueues: (q) => {
        calls.claimEnqueues++;
        return store.claimEnqueues(q);
      },
      markEnqueued: (ids) => {
        calls.markEnqueued++;
        return store.markEnqueued(ids);
      },
      releaseEnqueues: (ids) => store.releaseEnqueues(ids),
      transition: (...args) => store.transition(...args),
    },
    queue,
  });
  const coordinator = createCoordinator({ store, enqueuer });
  const tests = [
    { name: 'a', durationMs: 0 },
    { name: 'b', durationMs: 0 },
  ];
  const create = () =>
    coordinator.enqueueRun({ workspaceId: 'ws', executor: 'demo', tests, shards: 2 });

  const first = await create();
  await waitFor(() => added.length === 1, { what: 'the first hand-off at the queue' });
  const runs = [first, ...(await Promise.all([create(), create()]))];
  open();
  await waitFor(() => enqueuer.metrics().runsEnqueued === 3, { what: 'three runs enqueued' });
  // The two created while the first was at the queue went together.
  expect(calls).toEqual({ claimEnqueues: 0, markEnqueued: 2 });
  const ids = (batch: ShardJobData[]) => batch.map((j) => `${j.runId}-${j.shardIndex}`).sort();
  expect(added.map(ids)).toEqual([
    [`${first.id}-0`, `${first.id}-1`],
    runs
      .slice(1)
      .flatMap((r) => [`${r.id}-0`, `${r.id}-1`])
      .sort(),
  ]);
  // The job a pass would have rebuilt from the stored payload.
  expect(added[0]!.find((j) => j.runId === runs[0]!.id && j.shardIndex === 0)).toEqual({
    runId: runs[0]!.id,
    workspaceId: 'ws',
    shardIndex: 0,
    shardCount: 2,
    executor: 'demo',
    callbackUrl: null,
    tests: [{ testId: expect.stringMatching(/^t[01]$/), test: expect.any(Object) }],
  });
  // Marked: no pass finds them, even with the lease over.
  expect(await store.claimEnqueues({ leaseMs: 1 })).toEqual([]);

  refuse = true;
  const late = await create();
  await waitFor(() => enqueuer.metrics().errors === 1, { what: 'the refused hand-off' });
  expect(enqueuer.metrics().runsEnqueued).toBe(3);
  refuse = false;
  // Given back at once: the next pass claims it without waiting out the 30 s lease.
  await enqueuer.wake();
  expect(calls.claimEnqueues).toBeGreaterThanOrEqual(1);
  expect(enqueuer.metrics().runsEnqueued).toBe(4);
  expect(added.at(-1)!.map((j) => j.runId)).toEqual([late.id, late.id]);
  await enqueuer.close();
});
