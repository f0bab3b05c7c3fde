import { isTerminal, type RunStatus, TERMINAL_STATUSES } from '@x/protocol';
import { postgres, type TestDatabase } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunStore,
  type Database,
  migrate,
  openPostgres,
  type RunStore,
} from '../src/index.js';
import { COMPLETE_SHARD_SQL } from '../src/sql/complete-shard.js';
import {
  complete,
  markRunning,
  result,
  resultCount,
  runInput,
  shardRows,
  shuffle,
} from './helpers.js';

const ok = { passed: 1, failed: 0, skipped: 0 };

/** Until another backend of this database waits for a lock (the statement held behind `holder`). */
async function waitForLockWait(holder: pg.Client): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await holder.query(
      `select count(*)::int as n from pg_stat_activity
       where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
    );
    if ((rows[0] as { n: number }).n > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no statement waited for the held lock within 5 s');
}

// Races need real concurrent connections: PGlite has one, so these run on PostgreSQL only,
// with a pool large enough that every caller below holds its own connection.
describe('RunStore races on PostgreSQL', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let store: RunStore;

  beforeAll(async () => {
    database = await postgres('runstore_races');
    db = openPostgres(database.url, { max: 24 });
    await migrate(db);
    store = createRunStore(db);
  });
  afterAll(async () => {
    await db.destroy();
    await database.close();
  });

  it('20 concurrent createRunOnce with one key (some with another body): one run; the rest replay or key_reused', async () => {
    for (let round = 0; round < 3; round++) {
      const input = runInput(2);
      const key = `race-${round}`;
      const calls = shuffle(Array.from({ length: 20 }, (_, i) => i)).map((i) =>
        store.createRunOnce(input, { key, requestHash: i % 5 === 0 ? 'other' : 'same' }),
      );
      const outcomes = await Promise.all(calls);
      const created = outcomes.filter((o) => o.outcome === 'created');
      expect(created).toHaveLength(1);
      const { runs } = await store.listRuns(input.workspaceId);
      expect(runs).toHaveLength(1);
      const runId = runs[0]!.id;
      for (const o of outcomes) expect(o.outcome === 'key_reused' ? o.runId : o.run.id).toBe(runId);
    }
  });

  it('50 concurrent shard completions (10 shards x 5 deliveries): exact counters and results, exactly one finalizer', async () => {
    for (let round = 0; round < 3; round++) {
      const run = await store.createRun(runInput(10, 3));
      await markRunning(store, run.id);
      const stats = (s: number) => ({ passed: s, failed: 10 - s, skipped: s % 2 });
      const results = (s: number) =>
        Array.from({ length: 3 }, (_, t) => ({
          testId: `s${s}t${t}`,
          name: `t${t}`,
          status: 'passed' as const,
          durationMs: 1,
          error: null,
          attempt: 1 + (s % 3),
        }));
      const calls = shuffle(Array.from({ length: 50 }, (_, i) => i % 10)).map((s) =>
        store.completeShardWithResults(run.id, s, 1 + (s % 3), stats(s), results(s)),
      );
      const outcomes = await Promise.all(calls);
      expect(outcomes.filter((o) => o.isFinalizer)).toHaveLength(1);
      expect(outcomes.filter((o) => o.applied)).toHaveLength(10);
      const after = await store.getRunById(run.id);
      expect(after).toMatchObject({
        shardsCompleted: 10,
        shardCount: 10,
        passed: 45,
        failed: 55,
        status: 'running',
      });
      const shards = await shardRows(db, run.id);
      expect(shards.every((s) => s.status === 'completed')).toBe(true);
      expect(shards.map((s) => s.skipped)).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
      // Each shard's results landed once, with the one completion that applied.
      expect(await resultCount(db, run.id)).toBe(30);
    }
  });

  it('50 concurrent completions with finalize (10 shards x 5 deliveries): the run finalized once, with exact retry counts', async () => {
    for (let round = 0; round < 3; round++) {
      const run = await store.createRun(runInput(10, 1));
      await markRunning(store, run.id);
      const stats = (s: number) => ({ passed: s, failed: 10 - s, skipped: 0 });
      const calls = shuffle(Array.from({ length: 50 }, (_, i) => i % 10)).map((s) =>
        store.completeShardWithResults(run.id, s, 1 + (s % 3), stats(s), [], { finalize: true }),
      );
      const outcomes = await Promise.all(calls);
      const finalizers = outcomes.filter((o) => o.isFinalizer);
      expect(finalizers).toHaveLength(1);
      expect(outcomes.filter((o) => o.finalized)).toEqual(finalizers);
      const done = finalizers[0]?.finalized;
      expect(done?.won).toBe(true);
      // Retries: shard s ran attempt 1 + s % 3, so 9 in all; the 6 retried shards failed 33.
      const expected = {
        status: 'completed',
        shardsCompleted: 10,
        passed: 45,
        failed: 55,
        retryCount: 9,
        failedAfterRetry: 33,
      };
      expect(done?.run).toMatchObject(expected);
      expect(await store.getRunById(run.id)).toEqual(done?.run);
    }
  });

  it('with finalize, the last completion that waited for its sibling\u2019s commit finalizes the run counting the sibling', async () => {
    const run = await store.createRun(runInput(2, 1));
    await markRunning(store, run.id);
    await store.beginShard(run.id, 0, 2, { purge: true });
    // The sibling's completion, held open: it has the run row locked, uncommitted.
    const sibling = new pg.Client({ connectionString: database.url });
    await sibling.connect();
    try {
      await sibling.query('begin');
      await sibling.query(COMPLETE_SHARD_SQL, [run.id, 0, 2, 0, 3, 0, '[]', false]);
      // This statement's snapshot sees shard 0 open; the run row it updates will not.
      const last = store.completeShardWithResults(run.id, 1, 1, ok, [], { finalize: true });
      await waitForLockWait(sibling);
      await sibling.query('commit');
      const outcome = await last;
      expect(outcome).toMatchObject({ applied: true, shardsCompleted: 2, isFinalizer: true });
      expect(outcome.finalized?.won).toBe(true);
      // The sibling's retry and its 3 failures, committed after that snapshot, are counted.
      expect(outcome.finalized?.run).toMatchObject({
        status: 'completed',
        retryCount: 1,
        failedAfterRetry: 3,
        failed: 3,
        passed: 1,
      });
    } finally {
      await sibling.end();
    }
  });

  it('beginShard racing the completion of the same shards and an abort: no deadlock, aborted stays, no start after it', async () => {
    for (let round = 0; round < 3; round++) {
      const run = await store.createRun(runInput(6, 1));
      const calls: Promise<unknown>[] = shuffle([
        ...Array.from({ length: 12 }, (_, i) =>
          store.beginShard(run.id, i % 6, 1 + (i % 2), { purge: i % 2 === 1 }),
        ),
        ...Array.from({ length: 6 }, (_, s) =>
          complete(store, run.id, s, 1, { passed: 1, failed: 0, skipped: 0 }),
        ),
        store.transition(run.id, ['queued', 'running'], 'aborted'),
      ]);
      // A deadlock would reject one of these with a RunStoreError.
      await Promise.all(calls);
      expect((await store.getRunById(run.id))?.status).toBe('aborted');
      expect(await store.beginShard(run.id, 0, 3)).toMatchObject({
        status: 'aborted',
        started: false,
      });
    }
  });

  it('20 concurrent terminal transitions: exactly one winner, every loser learns the winning status', async () => {
    for (let round = 0; round < 3; round++) {
      const run = await store.createRun(runInput(1));
      await markRunning(store, run.id);
      const targets = Array.from({ length: 20 }, (_, i) => TERMINAL_STATUSES[i % 3] as RunStatus);
      const results = await Promise.all(
        targets.map((to, i) =>
          store.transition(run.id, ['queued', 'running'], to, { error: `writer ${i}` }),
        ),
      );
      const winners = results.map((r, i) => ({ ...r, i })).filter((r) => r.won);
      expect(winners).toHaveLength(1);
      const winner = winners[0] as { status: RunStatus; i: number };
      expect(results.every((r) => r.status === winner.status)).toBe(true);
      expect(await store.getRunById(run.id)).toMatchObject({
        status: winner.status,
        error: `writer ${winner.i}`,
      });
    }
  });

  it('abort racing the finalizer: exactly one terminal status, and the loser learns it lost', async () => {
    const tally = { completed: 0, aborted: 0 };
    for (let round = 0; round < 20; round++) {
      const run = await store.createRun(runInput(2, 1));
      await markRunning(store, run.id);
      await complete(store, run.id, 0, 1, { passed: 1, failed: 0, skipped: 0 });
      const finisher = (async () => {
        const done = await complete(store, run.id, 1, 1, { passed: 1, failed: 0, skipped: 0 });
        if (!done.isFinalizer)
          return { side: 'finalizer', won: false, status: await store.getStatus(run.id) };
        const f = await store.finalizeRun(run.id);
        return { side: 'finalizer', won: f.won, status: f.run.status };
      })();
      const aborter = store
        .transition(run.id, ['queued', 'running'], 'aborted', { error: 'user abort' })
        .then((r) => ({ side: 'abort', ...r }));
      const [f, a] = await Promise.all([finisher, aborter]);
      const final = await store.getRunById(run.id);
      if (!final) throw new Error('run vanished');
      expect(isTerminal(final.status)).toBe(true);
      expect([f.won, a.won].filter(Boolean)).toHaveLength(1);
      // Both sides agree on the one terminal status.
      expect(f.status).toBe(final.status);
      expect(a.status).toBe(final.status);
      if (final.status === 'completed') {
        expect(final).toMatchObject({ passed: 2, shardsCompleted: 2, error: null });
      } else {
        expect(final.status).toBe('aborted');
        expect(final.error).toBe('user abort');
      }
      tally[final.status === 'completed' ? 'completed' : 'aborted']++;
    }
    expect(tally.completed + tally.aborted).toBe(20);
  });

  it('4 stores batching at once (begins, 3 deliveries of every completion, aborts) on 12 runs: no deadlock, exact counters, one finalizer per completed run', async () => {
    // Each store has its own group commit, so their batches are concurrent statements on
    // different connections, locking shards and runs of the same runs in any mix; two slots
    // each, so single statements and batches of every kind are in flight together.
    const stores = Array.from({ length: 4 }, () => createRunStore(db, { statementsInFlight: 2 }));
    const pick = () => stores[Math.floor(Math.random() * stores.length)] as RunStore;
    for (let round = 0; round < 2; round++) {
      const runs = await Promise.all(
        Array.from({ length: 12 }, () => store.createRun(runInput(4, 1))),
      );
      const stats = (s: number) => ({ passed: s, failed: 1, skipped: 0 });
      const completions: Promise<{ runId: string; finalizer: boolean; applied: boolean }>[] = [];
      const others: Promise<unknown>[] = [];
      for (const run of runs) {
        for (let s = 0; s < 4; s++) {
          others.push(
            pick().beginShard(run.id, s, 1),
            pick().beginShard(run.id, s, 2, { purge: true }),
          );
          for (let d = 0; d < 3; d++) {
            completions.push(
              pick()
                .completeShardWithResults(run.id, s, 1 + d, stats(s), [
                  result(`s${s}t0`, { attempt: 1 + d }),
                ])
                .then((o) => ({ runId: run.id, finalizer: o.isFinalizer, applied: o.applied })),
            );
          }
        }
      }
      // Every third run is aborted somewhere in the middle of it all.
      const aborts = runs
        .filter((_, i) => i % 3 === 0)
        .map((run) => pick().transition(run.id, ['queued', 'running'], 'aborted'));
      const [outcomes] = await Promise.all([
        Promise.all(shuffle(completions)),
        Promise.all(others),
        Promise.all(aborts),
      ]);
      for (const run of runs) {
        const final = await store.getRunById(run.id);
        const mine = outcomes.filter((o) => o.runId === run.id);
        const applied = mine.filter((o) => o.applied).length;
        expect(final?.shardsCompleted).toBe(applied);
        expect(mine.filter((o) => o.finalizer)).toHaveLength(applied === 4 ? 1 : 0);
        const shards = await shardRows(db, run.id);
        const flipped = shards.filter((r) => r.status === 'completed');
        // Results land with the shard's flip (an abort between the flip and the run's update
        // keeps the run's counters: the documented limit), never twice.
        expect(await resultCount(db, run.id)).toBe(flipped.length);
        if (final?.status !== 'aborted') {
          expect(applied).toBe(4);
          expect(final?.passed).toBe(flipped.reduce((t, r) => t + r.passed, 0));
        }
      }
    }
  });

  it('shards completing while the run is aborted never change the aborted run', async () => {
    const run = await store.createRun(runInput(8, 1));
    await markRunning(store, run.id);
    const calls = shuffle(Array.from({ length: 16 }, (_, i) => i % 8)).map((s) =>
      complete(store, run.id, s, 1, { passed: 1, failed: 0, skipped: 0 }),
    );
    const abort = store.transition(run.id, ['running'], 'aborted');
    const [outcomes, aborted] = await Promise.all([Promise.all(calls), abort]);
    const final = await store.getRunById(run.id);
    const applied = outcomes.filter((o) => o.applied).length;
    // The counters hold exactly the shards that landed before the abort, and no later one.
    expect(final?.shardsCompleted).toBe(applied);
    expect(final?.passed).toBe(applied);
    expect(aborted.won || final?.status === 'completed').toBe(true);
    const late = await complete(store, run.id, 0, 2, { passed: 5, failed: 0, skipped: 0 });
    expect(late.applied).toBe(false);
    expect(await store.getRunById(run.id)).toEqual(final);
  });
  it('20 runs x 8 concurrent claimers (own claims and sweeps mixed): every callback claimed exactly once', async () => {
    const runs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const run = await store.createRun({
        ...runInput(1, 1),
        callbackUrl: 'https://ci.example/cb',
      });
      await store.transition(run.id, ['queued'], i % 2 ? 'failed' : 'aborted');
      runs.push(run.id);
    }
    const claimers = shuffle(
      Array.from({ length: 8 * 20 }, (_, i) =>
        i % 4 === 0
          ? () => store.claimCallbacks({ graceMs: 0, limit: 5 })
          : () => store.claimCallbacks({ runId: runs[i % 20] ?? '' }),
      ),
    );
    const claims = (await Promise.all(claimers.map((c) => c()))).flat();
    const ours = claims.filter((c) => runs.includes(c.runId));
    expect(new Set(ours.map((c) => c.runId)).size).toBe(ours.length);
    expect(ours.every((c) => c.attempt === 1)).toBe(true);
    // Whatever no claimer got in that burst is still pending, never lost or doubly sending.
    for (const id of runs) {
      const state = (await store.getCallback(id))?.state;
      expect(state).toBe(ours.some((c) => c.runId === id) ? 'sending' : 'pending');
    }
  });
  it('retention: a batch skips a run another transaction holds (never waits on it); concurrent batches delete each run once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const id = (await store.createRun(runInput(2))).id;
      await store.transition(id, ['queued'], 'aborted');
      ids.push(id);
    }
    await sql`update runs set finished_at = '1999-01-01' where id = any(${ids}::uuid[])`.execute(
      db,
    );
    const cutoff = new Date('1999-06-01T00:00:00Z');
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    // A writer holding the oldest run's row (an abort, a callback settling) for as long as it likes.
    const holder = db.transaction().execute(async (trx) => {
      await sql`select id from runs where id = ${ids[0]} for update`.execute(trx);
      locked();
      await held;
    });
    await isLocked;
    const batches = await Promise.all(
      Array.from({ length: 4 }, () =>
        store.deleteFinishedRuns({ finishedBefore: cutoff, limit: 10 }),
      ),
    );
    const more = await store.deleteFinishedRuns({ finishedBefore: cutoff });
    const runs = batches.reduce((n, b) => n + b.runs, more.runs);
    expect(runs).toBe(39);
    expect(batches.reduce((n, b) => n + b.shards, more.shards)).toBe(78);
    expect(await store.getRunById(ids[0]!)).toBeDefined();
    release();
    await holder;
    expect(await store.deleteFinishedRuns({ finishedBefore: cutoff })).toMatchObject({ runs: 1 });
  });
});
