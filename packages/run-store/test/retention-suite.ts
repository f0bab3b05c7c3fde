import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database, Run, RunStore } from '../src/index.js';
import {
  expectStoreError,
  markRunning,
  result,
  resultCount,
  runInput,
  shardRows,
} from './helpers.js';

/** The run's finish moved into the past, as if it had finished then. */
async function finishedAt(db: Kysely<Database>, runId: string, at: string): Promise<void> {
  await sql`update runs set finished_at = ${at}::timestamptz where id = ${runId}`.execute(db);
}

/** A completed run of `shards` shards × 2 tests, with its results and an idempotency key. */
async function finishedRun(store: RunStore, shards: number, key: string): Promise<Run> {
  const created = await store.createRunOnce(runInput(shards), { key, requestHash: 'h' });
  if (created.outcome !== 'created') throw new Error('not created');
  const { run } = created;
  await markRunning(store, run.id);
  for (let s = 0; s < shards; s++) {
    await store.beginShard(run.id, s, 1);
    await store.completeShardWithResults(run.id, s, 1, { passed: 2, failed: 0, skipped: 0 }, [
      result(`s${s}t0`),
      result(`s${s}t1`),
    ]);
  }
  const { won } = await store.finalizeRun(run.id);
  if (!won) throw new Error('not finalized');
  return run;
}

async function keyCount(db: Kysely<Database>, runId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from idempotency_keys where run_id = ${runId}`.execute(db);
  return rows[0]!.n;
}

/**
 * `deleteFinishedRuns`: the same contract on every dialect. The suite shares one database, so
 * each test works further in the past than the one before: a later, older cutoff never reaches
 * an earlier test's leftovers.
 */
export function retentionSuite(ctx: () => { db: Kysely<Database>; store: RunStore }): void {
  describe('deleteFinishedRuns', () => {
    it('deletes runs finished before the cutoff with their shards, results and keys; keeps newer and live runs', async () => {
      const { db, store } = ctx();
      const old = await finishedRun(store, 2, 'ret-old');
      const recent = await finishedRun(store, 1, 'ret-recent');
      const aborted = (await store.createRun(runInput(1))).id;
      await store.transition(aborted, ['queued'], 'aborted');
      const live = (await store.createRun(runInput(1))).id;
      await finishedAt(db, old.id, '2010-01-01T00:00:00Z');
      await finishedAt(db, aborted, '2010-02-01T00:00:00Z');
      await finishedAt(db, recent.id, '2010-09-01T00:00:00Z');
      // A live run never finished: an old `created_at` does not make it eligible.
      await sql`update runs set created_at = '2009-01-01' where id = ${live}`.execute(db);

      const deleted = await store.deleteFinishedRuns({
        finishedBefore: new Date('2010-06-01T00:00:00Z'),
      });

      expect(deleted).toEqual({ runs: 2, shards: 3, results: 4, idempotencyKeys: 1 });
      expect(await store.getRunById(old.id)).toBeUndefined();
      expect(await store.getRunById(aborted)).toBeUndefined();
      expect(await shardRows(db, old.id)).toEqual([]);
      expect(await resultCount(db, old.id)).toBe(0);
      expect(await keyCount(db, old.id)).toBe(0);
      expect(await store.getCallback(old.id)).toBeUndefined();
      expect((await store.getRunById(recent.id))?.status).toBe('completed');
      expect(await resultCount(db, recent.id)).toBe(2);
      expect(await keyCount(db, recent.id)).toBe(1);
      expect((await store.getRunById(live))?.status).toBe('queued');
      // Nothing is left before the cutoff: the next batch is empty.
      expect(
        await store.deleteFinishedRuns({ finishedBefore: new Date('2010-06-01T00:00:00Z') }),
      ).toEqual({ runs: 0, shards: 0, results: 0, idempotencyKeys: 0 });
    });

    it('takes at most `limit` runs a batch, oldest first', async () => {
      const { db, store } = ctx();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = (await store.createRun(runInput(1))).id;
        await store.transition(id, ['queued'], 'aborted');
        // Newest first in creation order, so "oldest first" is not "first created".
        await finishedAt(db, id, `2005-0${5 - i}-01T00:00:00Z`);
        ids.push(id);
      }
      const cutoff = new Date('2005-12-01T00:00:00Z');
      expect((await store.deleteFinishedRuns({ finishedBefore: cutoff, limit: 2 })).runs).toBe(2);
      const left = await Promise.all(ids.map((id) => store.getRunById(id)));
      expect(left.map((r) => r !== undefined)).toEqual([true, true, true, false, false]);
      expect((await store.deleteFinishedRuns({ finishedBefore: cutoff, limit: 2 })).runs).toBe(2);
      expect((await store.deleteFinishedRuns({ finishedBefore: cutoff, limit: 2 })).runs).toBe(1);
      expect((await store.deleteFinishedRuns({ finishedBefore: cutoff, limit: 2 })).runs).toBe(0);
    });

    it('cuts a batch at about `maxResults` result rows, but always takes one run', async () => {
      const { db, store } = ctx();
      // total 6 each (3 shards × 2 tests).
      const runs = [
        await finishedRun(store, 3, 'ret-big-1'),
        await finishedRun(store, 3, 'ret-big-2'),
        await finishedRun(store, 3, 'ret-big-3'),
      ];
      for (const [i, run] of runs.entries()) {
        await finishedAt(db, run.id, `2001-0${i + 1}-01T00:00:00Z`);
      }
      const cutoff = new Date('2001-12-01T00:00:00Z');
      // The first run's 6 results reach the cap of 5: the batch stops after it.
      expect(await store.deleteFinishedRuns({ finishedBefore: cutoff, maxResults: 5 })).toEqual({
        runs: 1,
        shards: 3,
        results: 6,
        idempotencyKeys: 1,
      });
      // A run is taken while the results before it (0, then 6) are under the cap of 7: both.
      expect((await store.deleteFinishedRuns({ finishedBefore: cutoff, maxResults: 7 })).runs).toBe(
        2,
      );
      expect(await store.getRunById(runs[2]!.id)).toBeUndefined();
    });

    it('refuses a missing or invalid cutoff and bad bounds, deleting nothing', async () => {
      const { store } = ctx();
      await expectStoreError(
        store.deleteFinishedRuns({ finishedBefore: new Date('nope') }),
        'invalid_input',
      );
      await expectStoreError(
        store.deleteFinishedRuns({} as { finishedBefore: Date }),
        'invalid_input',
      );
      await expectStoreError(
        store.deleteFinishedRuns({ finishedBefore: new Date(), limit: 0 }),
        'invalid_input',
      );
      await expectStoreError(
        store.deleteFinishedRuns({ finishedBefore: new Date(), maxResults: 0 }),
        'invalid_input',
      );
    });
  });
}
