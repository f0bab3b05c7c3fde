import { createRunStore, migrate, openPglite, openPostgres, type RunStore } from '@x/run-store';
import { postgres, uniqueName } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionSweeper, RETENTION_LEASE, type RetentionSweeper } from '../src/index.js';

const DAY = 86_400_000;

/** `n` runs of `shards` shards each, aborted (finished) now. */
async function finishedRuns(store: RunStore, n: number, shards = 2): Promise<string[]> {
  const workspaceId = uniqueName('ws');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const run = await store.createRun({
      workspaceId,
      executor: 'demo',
      shards: Array.from({ length: shards }, (_, s) => ({ testIds: [`t${s}`] })),
    });
    await store.transition(run.id, ['queued'], 'aborted');
    ids.push(run.id);
  }
  return ids;
}

const present = async (store: RunStore, ids: string[]) =>
  (await Promise.all(ids.map((id) => store.getRunById(id)))).filter(Boolean).length;

/** The same behaviour on both databases the apps use. */
function sweeperSuite(open: () => Promise<{ store: RunStore; close(): Promise<void> }>) {
  let store: RunStore;
  let close: () => Promise<void>;
  const sweepers: RetentionSweeper[] = [];
  const sweeper = (o: Partial<Parameters<typeof createRetentionSweeper>[0]>) => {
    const s = createRetentionSweeper({ store, retentionDays: 30, pauseMs: 1, ...o });
    sweepers.push(s);
    return s;
  };

  beforeAll(async () => {
    ({ store, close } = await open());
  });
  // Each test starts with the lease free, as after a graceful shutdown.
  afterEach(async () => {
    await Promise.all(sweepers.splice(0).map((s) => s.close()));
  });
  afterAll(() => close());

  it('deletes runs finished more than retentionDays ago in batches, keeps younger and live ones, counts rows and time', async () => {
    const old = await finishedRuns(store, 7);
    const live = (
      await store.createRun({ workspaceId: 'w', executor: 'demo', shards: [{ testIds: ['a'] }] })
    ).id;
    // Seen from 31 days on, those runs are past a 30-day retention; from 29 days on they are not.
    const young = sweeper({ now: () => Date.now() + 29 * DAY, holder: 'a' });
    await young.sweep();
    expect(young.lastOutcome).toMatchObject({ leader: true, runs: 0, batches: 1 });
    await young.close();
    expect(await present(store, old)).toBe(7);

    const s = sweeper({ now: () => Date.now() + 31 * DAY, batchSize: 3, holder: 'a' });
    await s.sweep();
    expect(s.lastOutcome).toEqual({
      leader: true,
      batches: 4, // 3 + 3 + 1, then an empty batch says "done"
      more: false,
      runs: 7,
      shards: 14,
      results: 0,
      idempotencyKeys: 0,
    });
    expect(await present(store, old)).toBe(0);
    expect((await store.getRunById(live))?.status).toBe('queued');
    const m = s.metrics();
    expect(m).toMatchObject({
      sweeps: 1,
      batches: 4,
      runsDeleted: 7,
      shardsDeleted: 14,
      errors: 0,
    });
    expect(m.lastSweepMs).toBeGreaterThanOrEqual(0);
    expect(m.sweepMsTotal).toBe(m.lastSweepMs);
  });

  it('one sweeper in the fleet: a second instance finds the lease taken and deletes nothing', async () => {
    const ids = await finishedRuns(store, 2);
    const now = () => Date.now() + 31 * DAY;
    const first = sweeper({ now, holder: 'first' });
    const second = sweeper({ now, holder: 'second' });
    await first.sweep();
    await second.sweep();
    expect(first.lastOutcome).toMatchObject({ leader: true, runs: 2 });
    expect(second.lastOutcome).toMatchObject({ leader: false, runs: 0 });
    expect(second.metrics()).toMatchObject({ sweeps: 0, notLeader: 1 });
    expect(await present(store, ids)).toBe(0);
    // A graceful close hands the role over at once.
    await first.close();
    await second.sweep();
    expect(second.lastOutcome).toMatchObject({ leader: true });
    await second.close();
  });

  it('stops a sweep at maxBatches and goes on with the next one', async () => {
    const ids = await finishedRuns(store, 5, 1);
    const s = sweeper({ now: () => Date.now() + 31 * DAY, batchSize: 2, maxBatches: 2 });
    await s.sweep();
    expect(s.lastOutcome).toMatchObject({ leader: true, batches: 2, runs: 4, more: true });
    expect(s.metrics().cappedSweeps).toBe(1);
    expect(await present(store, ids)).toBe(1);
    await s.sweep();
    expect(s.lastOutcome).toMatchObject({ runs: 1, more: false });
    expect(await present(store, ids)).toBe(0);
    await s.close();
  });

  it('close stops a sweep between batches and releases the lease', async () => {
    const ids = await finishedRuns(store, 4, 1);
    const s = sweeper({ now: () => Date.now() + 31 * DAY, batchSize: 1, pauseMs: 60_000 });
    const sweeping = s.sweep();
    // The first batch is in, the sweep pauses a minute before the next: close cuts it short.
    await expect.poll(() => s.metrics().batches, { timeout: 10_000 }).toBe(1);
    const t0 = Date.now();
    await s.close();
    await sweeping;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(s.lastOutcome).toMatchObject({ runs: 1, more: true });
    expect(await present(store, ids)).toBe(3);
    expect(await store.tryLease(RETENTION_LEASE, 'someone-else', 1_000)).toBe(true);
    await store.releaseLease(RETENTION_LEASE, 'someone-else');
    const rest = sweeper({ now: () => Date.now() + 31 * DAY });
    await rest.sweep();
    expect(await present(store, ids)).toBe(0);
  });

  it('refuses retentionDays below 1 and bad bounds at construction', () => {
    expect(() => createRetentionSweeper({ store, retentionDays: 0 })).toThrow(/retentionDays/);
    expect(() => createRetentionSweeper({ store, retentionDays: 1, batchSize: 0 })).toThrow(
      /batchSize/,
    );
  });
}

describe('retention sweeper on PostgreSQL', () => {
  sweeperSuite(async () => {
    const database = await postgres('retention');
    const db = openPostgres(database.url, { max: 4 });
    await migrate(db);
    return {
      store: createRunStore(db),
      async close() {
        await db.destroy();
        await database.close();
      },
    };
  });
});

describe('retention sweeper on PGlite', () => {
  sweeperSuite(async () => {
    const db = await openPglite('memory');
    await migrate(db);
    return { store: createRunStore(db), close: () => db.destroy() };
  });
});
