import { randomUUID } from 'node:crypto';
import { uniqueName } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunStore,
  type Database,
  migrate,
  type NewResult,
  type Run,
  type RunStore,
} from '../src/index.js';
import { type RunRow, rowToRun } from '../src/row-mapping.js';
import { completeShardsSql } from '../src/sql/complete-shards.js';
import { callbackOutboxSuite } from './callback-suite.js';
import { fairDispatchSuite } from './dispatch-suite.js';
import { enqueueOutboxSuite } from './enqueue-suite.js';
import {
  complete,
  completeAsOlderVersion,
  expectStoreError,
  insertResults,
  markRunning,
  result,
  resultCount,
  runInput,
  shardRows,
} from './helpers.js';
import { idempotencySuite } from './idempotency-suite.js';
import { retentionSuite } from './retention-suite.js';
import { tagsSuite } from './tags-suite.js';

export interface SuiteTarget {
  /** A migrated, empty database of this dialect. */
  open(): Promise<{ db: Kysely<Database>; close(): Promise<void> }>;
}

const ok = { passed: 1, failed: 1, skipped: 0 };

/** The non-concurrent contract: every dialect must pass it unchanged. */
export function runStoreSuite(target: SuiteTarget): void {
  let db: Kysely<Database>;
  let store: RunStore;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    store = createRunStore(db);
  });
  afterAll(() => close());

  describe('migrate', () => {
    it('is idempotent: a second call applies nothing and keeps the data', async () => {
      const run = await store.createRun(runInput(1));
      await migrate(db);
      const applied = await db.selectFrom('x_run_store_migrations').select('name').execute();
      expect(applied.map((r) => r.name)).toEqual([
        '0001_runs',
        '0002_callback_outbox',
        '0003_enqueue_outbox',
        '0004_idempotency_keys',
        '0005_retention',
        '0006_run_tags',
        '0007_fair_dispatch',
        '0008_dispatch_count',
        '0009_hot_shard_updates',
        '0010_unfinished_runs',
        '0011_hot_shard_completions',
        '0012_run_rows_by_construction',
        '0013_results_primary_key_only',
        '0014_tags_index_tagged_runs_only',
        '0015_completion_running_sums',
      ]);
      expect(await store.getRunById(run.id)).toBeDefined();
    });
  });

  describe('createRun', () => {
    it('stores the run and one row per shard, total = all test ids, counters at zero', async () => {
      const run = await store.createRun({
        ...runInput(3, 2),
        callbackUrl: 'https://ci.example/cb',
      });
      expect(run).toMatchObject({
        status: 'queued',
        executor: 'demo',
        name: 'suite',
        shardCount: 3,
        shardsCompleted: 0,
        total: 6,
        passed: 0,
        failed: 0,
        retryCount: 0,
        failedAfterRetry: 0,
        callbackUrl: 'https://ci.example/cb',
        error: null,
        startedAt: null,
        finishedAt: null,
        durationMs: null,
      });
      expect(run.createdAt).toBeInstanceOf(Date);
      const shards = await shardRows(db, run.id);
      expect(shards.map((s) => [s.shard_index, s.status, s.attempt, s.test_ids])).toEqual([
        [0, 'pending', 0, ['s0t0', 's0t1']],
        [1, 'pending', 0, ['s1t0', 's1t1']],
        [2, 'pending', 0, ['s2t0', 's2t1']],
      ]);
    });

    it('upserts the workspace, so a second run in it is fine', async () => {
      const ws = uniqueName('ws');
      await store.createRun(runInput(1, 1, ws));
      await store.createRun(runInput(1, 1, ws));
      const rows = await db.selectFrom('workspaces').selectAll().where('id', '=', ws).execute();
      expect(rows).toHaveLength(1);
      expect((await store.listRuns(ws)).runs).toHaveLength(2);
    });

    it('keeps a caller-chosen id and refuses it twice with conflict', async () => {
      const id = randomUUID();
      expect((await store.createRun({ ...runInput(1), id })).id).toBe(id);
      await expectStoreError(store.createRun({ ...runInput(1), id }), 'conflict');
    });

    it('refuses bad input with invalid_input, naming the field, and writes nothing', async () => {
      const ws = uniqueName('ws');
      const base = runInput(2, 1, ws);
      const dup = { ...base, shards: [{ testIds: ['a'] }, { testIds: ['a'] }] };
      expect((await expectStoreError(store.createRun(dup), 'invalid_input')).message).toContain(
        'repeats test id',
      );
      await expectStoreError(store.createRun({ ...base, shards: [] }), 'invalid_input');
      await expectStoreError(store.createRun({ ...base, id: 'not-a-uuid' }), 'invalid_input');
      expect(
        (await expectStoreError(store.createRun({ ...base, executor: '' }), 'invalid_input'))
          .message,
      ).toContain('executor');
      await expectStoreError(store.createRun({ ...base, workspaceId: '' }), 'invalid_input');
      // A payload or metadata that is no JSON value: refused by the check that also writes it.
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const payload of [cyclic, 10n, () => 1]) {
        const bad = { ...base, shards: [{ testIds: ['a'] }, { testIds: ['b'], payload }] };
        expect((await expectStoreError(store.createRun(bad), 'invalid_input')).message).toContain(
          'shards[1].payload',
        );
      }
      expect(
        (await expectStoreError(store.createRun({ ...base, metadata: cyclic }), 'invalid_input'))
          .message,
      ).toContain('metadata');
      expect((await store.listRuns(ws)).runs).toEqual([]);
    });
  });

  describe('ping', () => {
    it('answers after one round trip while the database is there', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });

  describe('reads and workspace isolation', () => {
    it('getRun finds a run only in its own workspace; getRunById ignores workspaces', async () => {
      const run = await store.createRun(runInput(1));
      expect((await store.getRun(run.workspaceId, run.id))?.id).toBe(run.id);
      expect(await store.getRun(uniqueName('other'), run.id)).toBeUndefined();
      expect((await store.getRunById(run.id))?.workspaceId).toBe(run.workspaceId);
      expect(await store.getRun(run.workspaceId, 'nope')).toBeUndefined();
      expect(await store.getRunById(randomUUID())).toBeUndefined();
      expect(await store.getStatus(run.id)).toBe('queued');
      expect(await store.getStatus('nope')).toBeUndefined();
    });

    it('getRunFacts answers from memory for a run the store created, read or began a shard of, else reads it', async () => {
      const factsOf = (r: Run) => ({
        workspaceId: r.workspaceId,
        name: r.name,
        tags: r.tags,
        createdAt: r.createdAt,
        total: r.total,
        shardCount: r.shardCount,
      });
      const tagged = { ...runInput(2, 2), tags: ['nightly', 'eu'] };
      const [created, ...began] = await Promise.all([
        store.createRun(tagged),
        store.createRun(runInput(1, 1)),
        store.createRun(runInput(1, 3)),
        store.createRun(runInput(3, 1)),
      ]);
      const unseen = await store.createRun(runInput(1, 1));
      const readBack = await store.createRun(runInput(1, 1));
      // A worker's store: it knows a run only once it begins a shard of it. One statement at
      // a time, so the begins that wait are written together (the batch statement's text).
      const worker = createRunStore(db, { statementsInFlight: 1 });
      await Promise.all(began.map((r) => worker.beginShard(r.id, 0, 1)));
      const fresh = createRunStore(db);
      expect(await fresh.getRunFacts(readBack.id)).toEqual(factsOf(readBack));
      for (const r of [created, ...began, unseen, readBack])
        await sql`delete from runs where id = ${r.id}`.execute(db);
      // Gone from the database: what still answers, answers from memory.
      expect(await store.getRunFacts(created.id)).toEqual(factsOf(created));
      expect(factsOf(created).tags).toEqual(['nightly', 'eu']);
      for (const r of began) expect(await worker.getRunFacts(r.id)).toEqual(factsOf(r));
      // An id in upper case is the same run.
      expect(await store.getRunFacts(created.id.toUpperCase())).toEqual(factsOf(created));
      expect(await fresh.getRunFacts(readBack.id)).toEqual(factsOf(readBack));
      expect(await worker.getRunFacts(unseen.id)).toBeUndefined();
      expect(await worker.getRunFacts(created.id)).toBeUndefined();
      // Each answer is a copy: changing one leaves the memory as it was.
      const copy = await store.getRunFacts(created.id);
      copy?.tags.push('changed');
      copy?.createdAt.setTime(0);
      expect(await store.getRunFacts(created.id)).toEqual(factsOf(created));
      expect(await store.getRunFacts('nope')).toBeUndefined();
    });

    it('listRuns pages newest first with a cursor, every run exactly once, only its workspace', async () => {
      const ws = uniqueName('ws');
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await store.createRun(runInput(1, 1, ws))).id);
      await store.createRun(runInput(1, 1)); // another workspace
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listRuns(ws, { limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set(ids));
      const all = (await store.listRuns(ws, { limit: 100 })).runs;
      const order = all.map((r) => [r.createdAt.getTime(), r.id] as const);
      const sorted = [...order].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1));
      expect(order).toEqual(sorted);
    });

    it('listRuns filters by status and refuses a bad cursor, status or limit', async () => {
      const ws = uniqueName('ws');
      const a = await store.createRun(runInput(1, 1, ws));
      await store.createRun(runInput(1, 1, ws));
      await markRunning(store, a.id);
      const running = await store.listRuns(ws, { status: 'running' });
      expect(running.runs.map((r) => r.id)).toEqual([a.id]);
      await expectStoreError(store.listRuns(ws, { cursor: 'garbage!' }), 'invalid_input');
      await expectStoreError(
        store.listRuns(ws, { cursor: Buffer.from('["s",1,"2"]').toString('base64url') }),
        'invalid_input',
      );
      // @ts-expect-error: a status from the outside may be anything
      await expectStoreError(store.listRuns(ws, { status: 'paused' }), 'invalid_input');
      await expectStoreError(store.listRuns(ws, { limit: 0 }), 'invalid_input');
    });

    it('getResults pages by shard then insertion order and hides other workspaces', async () => {
      const run = await store.createRun(runInput(2, 3));
      const mk = (s: number, t: number) => ({
        testId: `s${s}t${t}`,
        name: `test ${s}.${t}`,
        status: 'passed' as const,
        durationMs: 5,
        error: null,
        attempt: 1,
      });
      const stats = { passed: 3, failed: 0, skipped: 0 };
      await store.completeShardWithResults(run.id, 1, 1, stats, [mk(1, 0), mk(1, 1), mk(1, 2)]);
      await store.completeShardWithResults(run.id, 0, 1, stats, [mk(0, 0), mk(0, 1), mk(0, 2)]);
      const got: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.getResults(run.workspaceId, run.id, {
          limit: 4,
          ...(cursor ? { cursor } : {}),
        });
        if (!page) throw new Error('run not visible');
        got.push(...page.results.map((r) => r.testId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(got).toEqual(['s0t0', 's0t1', 's0t2', 's1t0', 's1t1', 's1t2']);
      expect(await store.getResults(uniqueName('other'), run.id)).toBeUndefined();
      expect(await store.getResults(run.workspaceId, randomUUID())).toBeUndefined();
      const empty = await store.createRun(runInput(1, 1, run.workspaceId));
      expect(await store.getResults(run.workspaceId, empty.id)).toEqual({
        results: [],
        nextCursor: null,
      });
      await expectStoreError(
        store.getResults(run.workspaceId, run.id, { cursor: 'x' }),
        'invalid_input',
      );
    });
  });

  describe('status transitions', () => {
    it('transition to running moves queued to running once and stamps startedAt', async () => {
      const run = await store.createRun(runInput(1));
      const first = await store.transition(run.id, ['queued'], 'running');
      expect(first).toMatchObject({ won: true, status: 'running' });
      expect(first.run?.startedAt).toBeInstanceOf(Date);
      expect(await store.transition(run.id, ['queued'], 'running')).toEqual({
        won: false,
        status: 'running',
      });
      expect(await store.getRunById(run.id)).toEqual(first.run);
      await expectStoreError(store.transition(randomUUID(), ['queued'], 'running'), 'not_found');
    });

    it('transition: the first terminal writer wins and the loser learns the status', async () => {
      const run = await store.createRun(runInput(1));
      await markRunning(store, run.id);
      const first = await store.transition(run.id, ['queued', 'running'], 'aborted', {
        error: 'user',
      });
      // The winner gets its updated run from the same statement.
      expect(first).toEqual({
        won: true,
        status: 'aborted',
        run: expect.objectContaining({
          id: run.id,
          status: 'aborted',
          error: 'user',
          total: run.total,
        }),
      });
      expect(first.run?.finishedAt).toBeInstanceOf(Date);
      expect(first.run?.durationMs).toBeGreaterThanOrEqual(0);
      const second = await store.transition(run.id, ['running'], 'failed', { error: 'boom' });
      expect(second).toEqual({ won: false, status: 'aborted' });
      expect(await store.getRunById(run.id)).toEqual(first.run);
    });

    it('transition never overwrites a terminal status, even when `from` lists it', async () => {
      const run = await store.createRun(runInput(1));
      await store.transition(run.id, ['queued'], 'failed', { error: 'x', durationMs: 7 });
      const res = await store.transition(run.id, ['failed', 'completed', 'aborted'], 'running');
      expect(res).toEqual({ won: false, status: 'failed' });
      expect(await store.getRunById(run.id)).toMatchObject({ status: 'failed', durationMs: 7 });
    });

    it('transition refuses unknown runs and bad statuses', async () => {
      await expectStoreError(store.transition(randomUUID(), ['queued'], 'aborted'), 'not_found');
      await expectStoreError(store.transition('x', ['queued'], 'aborted'), 'not_found');
      const run = await store.createRun(runInput(1));
      // @ts-expect-error: statuses from the outside may be anything
      await expectStoreError(store.transition(run.id, ['queued'], 'paused'), 'invalid_input');
      // @ts-expect-error: statuses from the outside may be anything
      await expectStoreError(store.transition(run.id, ['later'], 'aborted'), 'invalid_input');
      expect(await store.getStatus(run.id)).toBe('queued');
    });
  });

  describe('shard completion and finalizeRun', () => {
    it('applies a shard once: a redelivery changes nothing, the last shard is the finalizer', async () => {
      const run = await store.createRun(runInput(2));
      await markRunning(store, run.id);
      expect(await complete(store, run.id, 0, 1, ok)).toEqual({
        applied: true,
        shardsCompleted: 1,
        shardCount: 2,
        isFinalizer: false,
      });
      expect(await complete(store, run.id, 0, 1, { passed: 9, failed: 9, skipped: 9 })).toEqual({
        applied: false,
        shardsCompleted: 1,
        shardCount: 2,
        isFinalizer: false,
      });
      expect(await complete(store, run.id, 1, 1, { passed: 2, failed: 0, skipped: 0 })).toEqual({
        applied: true,
        shardsCompleted: 2,
        shardCount: 2,
        isFinalizer: true,
      });
      expect((await complete(store, run.id, 1, 2, ok)).isFinalizer).toBe(false);
      expect(await store.getRunById(run.id)).toMatchObject({
        passed: 3,
        failed: 1,
        shardsCompleted: 2,
      });
      const shard = (await shardRows(db, run.id))[0];
      expect(shard).toMatchObject({ status: 'completed', passed: 1, failed: 1, skipped: 0 });
    });

    it('does nothing to a run that is already terminal', async () => {
      const run = await store.createRun(runInput(2));
      await markRunning(store, run.id);
      await complete(store, run.id, 0, 1, ok);
      await store.transition(run.id, ['running'], 'aborted');
      const before = await store.getRunById(run.id);
      const res = await complete(store, run.id, 1, 1, ok);
      expect(res).toEqual({
        applied: false,
        shardsCompleted: 1,
        shardCount: 2,
        isFinalizer: false,
      });
      expect(await store.getRunById(run.id)).toEqual(before);
      expect((await shardRows(db, run.id))[1]?.status).toBe('pending');
    });

    it('refuses an unknown run, negative stats, a bad attempt and an out-of-range shard, writing nothing', async () => {
      const run = await store.createRun(runInput(2));
      await markRunning(store, run.id);
      const before = { run: await store.getRunById(run.id), shards: await shardRows(db, run.id) };
      await expectStoreError(complete(store, randomUUID(), 0, 1, ok), 'not_found');
      const neg = await expectStoreError(
        complete(store, run.id, 0, 1, { passed: -1, failed: 0, skipped: 0 }),
        'invalid_input',
      );
      expect(neg.message).toContain('stats.passed');
      await expectStoreError(
        complete(store, run.id, 0, 1, { passed: 1.5, failed: 0, skipped: 0 }),
        'invalid_input',
      );
      await expectStoreError(complete(store, run.id, 0, 0, ok), 'invalid_input');
      await expectStoreError(complete(store, run.id, 2, 1, ok), 'shard_out_of_range');
      await expectStoreError(complete(store, run.id, -1, 1, ok), 'shard_out_of_range');
      expect({ run: await store.getRunById(run.id), shards: await shardRows(db, run.id) }).toEqual(
        before,
      );
    });

    it('finalizeRun completes once with retry counts, finishedAt and durationMs', async () => {
      const run = await store.createRun(runInput(3));
      await markRunning(store, run.id);
      await store.beginShard(run.id, 0, 1);
      await store.beginShard(run.id, 1, 1);
      await store.beginShard(run.id, 1, 2, { purge: true });
      await store.beginShard(run.id, 2, 3, { purge: true });
      await complete(store, run.id, 0, 1, { passed: 2, failed: 0, skipped: 0 });
      await complete(store, run.id, 1, 2, { passed: 1, failed: 1, skipped: 0 });
      expect(
        (await complete(store, run.id, 2, 3, { passed: 0, failed: 2, skipped: 0 })).isFinalizer,
      ).toBe(true);
      const { won, run: done } = await store.finalizeRun(run.id);
      expect(won).toBe(true);
      expect(done).toMatchObject({
        status: 'completed',
        passed: 3,
        failed: 3,
        retryCount: 3,
        failedAfterRetry: 3,
      });
      expect(done.finishedAt).toBeInstanceOf(Date);
      expect(done.durationMs).toBeGreaterThanOrEqual(0);
      const again = await store.finalizeRun(run.id);
      expect(again.won).toBe(false);
      expect(again.run).toEqual(done);
    });

    it('with finalize, the last completion finalizes the run in its own statement, as finalizeRun would', async () => {
      const run = await store.createRun({ ...runInput(3), callbackUrl: 'https://example.test/cb' });
      await markRunning(store, run.id);
      await store.beginShard(run.id, 1, 2, { purge: true });
      await store.beginShard(run.id, 2, 3, { purge: true });
      const fin = { finalize: true };
      const first = await store.completeShardWithResults(
        run.id,
        0,
        1,
        { passed: 2, failed: 0, skipped: 0 },
        [],
        fin,
      );
      expect(first).toEqual({
        applied: true,
        shardsCompleted: 1,
        shardCount: 3,
        isFinalizer: false,
      });
      expect((await store.getRunById(run.id))?.status).toBe('running');
      await store.completeShardWithResults(
        run.id,
        1,
        2,
        { passed: 1, failed: 1, skipped: 0 },
        [],
        fin,
      );
      const last = await store.completeShardWithResults(
        run.id,
        2,
        3,
        { passed: 0, failed: 2, skipped: 0 },
        [],
        fin,
      );
      expect(last).toMatchObject({ applied: true, shardsCompleted: 3, isFinalizer: true });
      expect(last.finalized?.won).toBe(true);
      const done = last.finalized?.run;
      // The same figures finalizeRun writes (its test above: the same shards and attempts).
      expect(done).toMatchObject({
        status: 'completed',
        passed: 3,
        failed: 3,
        shardsCompleted: 3,
        retryCount: 3,
        failedAfterRetry: 3,
      });
      expect(done?.finishedAt).toBeInstanceOf(Date);
      expect(done?.durationMs).toBeGreaterThanOrEqual(0);
      expect(await store.getRunById(run.id)).toEqual(done);
      // Its callback is queued in the same write, as finalizeRun queues it.
      const [pending] = await db
        .selectFrom('runs')
        .select(['callback_state'])
        .where('id', '=', run.id)
        .execute();
      expect(pending?.callback_state).toBe('pending');
      // Written once: finalizeRun and a redelivery find it completed.
      expect((await store.finalizeRun(run.id)).won).toBe(false);
      const again = await store.completeShardWithResults(run.id, 2, 3, ok, [], fin);
      expect(again).toEqual({
        applied: false,
        shardsCompleted: 3,
        shardCount: 3,
        isFinalizer: false,
      });
    });

    it('with finalize, a run one of whose shards an older version completed is finalized from its shard rows', async () => {
      const run = await store.createRun(runInput(2));
      await markRunning(store, run.id);
      // Shard 0 completed on its second attempt with 3 failures, uncounted.
      await completeAsOlderVersion(db, run.id, 0, 2, 3);
      const stats = { passed: 1, failed: 0, skipped: 0 };
      const last = await store.completeShardWithResults(run.id, 1, 1, stats, [], {
        finalize: true,
      });
      expect(last).toMatchObject({ applied: true, isFinalizer: true, finalized: { won: true } });
      expect(last.finalized?.run).toMatchObject({
        status: 'completed',
        failed: 3,
        passed: 1,
        retryCount: 1,
        failedAfterRetry: 3,
      });
    });

    it('without finalize, the last completion leaves the run to finalizeRun', async () => {
      const run = await store.createRun(runInput(1));
      await markRunning(store, run.id);
      const last = await complete(store, run.id, 0, 1, ok);
      expect(last).toEqual({ applied: true, shardsCompleted: 1, shardCount: 1, isFinalizer: true });
      expect((await store.getRunById(run.id))?.status).toBe('running');
      expect((await store.finalizeRun(run.id)).won).toBe(true);
    });

    it('with finalize, a finalizer that lost to an abort answers the aborted run', async () => {
      const run = await store.createRun(runInput(1));
      await markRunning(store, run.id);
      await store.transition(run.id, ['running'], 'aborted', { error: 'stop' });
      const res = await store.completeShardWithResults(run.id, 0, 1, ok, [], { finalize: true });
      expect(res).toEqual({
        applied: false,
        shardsCompleted: 0,
        shardCount: 1,
        isFinalizer: false,
      });
      expect((await store.getRunById(run.id))?.status).toBe('aborted');
    });

    it('finalizeRun loses to an abort and reports the aborted run', async () => {
      const run = await store.createRun(runInput(1));
      await store.transition(run.id, ['queued'], 'aborted', { error: 'stop' });
      const res = await store.finalizeRun(run.id);
      expect(res.won).toBe(false);
      expect(res.run).toMatchObject({ status: 'aborted', error: 'stop' });
      await expectStoreError(store.finalizeRun(randomUUID()), 'not_found');
    });
  });

  describe('shard attempts and results', () => {
    it('beginShard: the first start moves queued to running, a first attempt writes no shard row, a retry records its attempt and purges only its shard', async () => {
      const run = await store.createRun(runInput(2, 1));
      expect(await store.beginShard(run.id, 0, 1)).toEqual({
        status: 'queued',
        started: true,
        wasQueued: true,
        purged: 0,
        released: false,
        shardsCompleted: 0,
        shardCount: 2,
        passed: 0,
        failed: 0,
        total: 2,
      });
      expect((await store.getRunById(run.id))?.startedAt).toBeInstanceOf(Date);
      expect(await store.beginShard(run.id, 1, 1)).toMatchObject({
        status: 'running',
        started: true,
        wasQueued: false,
      });
      const res = (testId: string) => ({
        testId,
        name: testId,
        status: 'passed' as const,
        durationMs: 1,
        error: null,
        attempt: 1,
      });
      // Rows an older worker wrote before its completion (today results land with it).
      await insertResults(db, run.id, 0, [res('s0t0')]);
      await insertResults(db, run.id, 1, [res('s1t0')]);
      expect(await store.beginShard(run.id, 0, 2, { purge: true })).toMatchObject({
        started: true,
        purged: 1,
      });
      expect((await shardRows(db, run.id)).map((r) => [r.attempt, r.status])).toEqual([
        [2, 'running'],
        [0, 'pending'],
      ]);
      expect(await resultCount(db, run.id)).toBe(1);
      // A late duplicate of attempt 1 never rewinds the attempt; a completed shard is left alone.
      await store.beginShard(run.id, 0, 1);
      await complete(store, run.id, 1, 1, ok);
      expect(await store.beginShard(run.id, 1, 3, { purge: true })).toMatchObject({
        started: false,
        purged: 0,
        shardsCompleted: 1,
      });
      expect((await shardRows(db, run.id)).map((r) => [r.attempt, r.status])).toEqual([
        [2, 'running'],
        [1, 'completed'],
      ]);
      await expectStoreError(store.beginShard(run.id, 2, 1), 'shard_out_of_range');
      await expectStoreError(store.beginShard(run.id, 0, 0), 'invalid_input');
      expect(await store.beginShard(randomUUID(), 0, 1)).toBeUndefined();
    });

    it('a run deleted by hand takes its shards and results with it, and only its own (0012)', async () => {
      const [gone, kept] = await Promise.all([
        store.createRun(runInput(2, 2)),
        store.createRun(runInput(1, 1)),
      ]);
      const ok2 = { passed: 2, failed: 0, skipped: 0 };
      await store.completeShardWithResults(gone.id, 0, 1, ok2, [result('s0t0'), result('s0t1')]);
      await store.completeShardWithResults(kept.id, 0, 1, { ...ok2, passed: 1 }, [result('s0t0')]);
      expect(await resultCount(db, gone.id)).toBe(2);
      await sql`delete from runs where id = ${gone.id}`.execute(db);
      expect(await resultCount(db, gone.id)).toBe(0);
      expect(await shardRows(db, gone.id)).toEqual([]);
      expect(await resultCount(db, kept.id)).toBe(1);
      expect(await shardRows(db, kept.id)).toHaveLength(1);
      // And no per-row check on a run's inserts: its rows have no foreign key.
      const keys = await sql<{ n: number }>`select count(*)::int as n from pg_constraint
        where contype = 'f'
          and conrelid in ('runs'::regclass, 'run_shards'::regclass, 'run_results'::regclass)`.execute(
        db,
      );
      expect(keys.rows[0]?.n).toBe(0);
    });

    it("a completion's results have one index entry each: the primary key (0013)", async () => {
      const run = await store.createRun(runInput(2, 2));
      await store.completeShardWithResults(run.id, 0, 1, { passed: 2, failed: 0, skipped: 0 }, [
        result('s0t0'),
        result('s0t1'),
      ]);
      expect(await resultCount(db, run.id)).toBe(2);
      const indexes = await sql<{ name: string }>`select indexrelid::regclass::text as name
        from pg_index where indrelid = 'run_results'::regclass`.execute(db);
      expect(indexes.rows.map((r) => r.name)).toEqual(['run_results_pkey']);
    });

    it('beginShard writes nothing for a terminal run and reports its status', async () => {
      const run = await store.createRun(runInput(1, 1));
      await insertResults(db, run.id, 0, [
        { testId: 's0t0', name: 't', status: 'failed', durationMs: 1, error: 'x', attempt: 1 },
      ]);
      await store.transition(run.id, ['queued'], 'aborted');
      expect(await store.beginShard(run.id, 0, 2, { purge: true })).toEqual({
        status: 'aborted',
        started: false,
        wasQueued: false,
        purged: 0,
        released: false,
        shardsCompleted: 0,
        shardCount: 1,
        passed: 0,
        failed: 0,
        total: 1,
      });
      expect((await shardRows(db, run.id))[0]?.attempt).not.toBe(2);
      expect(await resultCount(db, run.id)).toBe(1);
      expect((await store.getRunById(run.id))?.status).toBe('aborted');
    });

    it('completeShardWithResults applies the completion and its results together, exactly once', async () => {
      const run = await store.createRun(runInput(2, 2));
      const res = (testId: string, status: 'passed' | 'failed', attempt = 1) => ({
        testId,
        name: testId,
        status,
        durationMs: 1,
        error: status === 'failed' ? 'x' : null,
        attempt,
      });
      const first = await store.completeShardWithResults(run.id, 0, 1, ok, [
        res('s0t0', 'passed'),
        res('s0t1', 'failed'),
      ]);
      expect(first).toEqual({
        applied: true,
        shardsCompleted: 1,
        shardCount: 2,
        isFinalizer: false,
      });
      // A redelivery: neither the counters nor the results change.
      const again = await store.completeShardWithResults(run.id, 0, 2, ok, [
        res('s0t0', 'failed', 2),
      ]);
      expect(again.applied).toBe(false);
      expect(await resultCount(db, run.id)).toBe(2);
      const last = await store.completeShardWithResults(run.id, 1, 1, ok, [
        res('s1t0', 'passed'),
        res('s1t1', 'failed'),
      ]);
      expect(last.isFinalizer).toBe(true);
      expect(await store.getRunById(run.id)).toMatchObject({
        passed: 2,
        failed: 2,
        shardsCompleted: 2,
      });
      expect(await resultCount(db, run.id)).toBe(4);
      // A terminal run takes neither.
      const aborted = await store.createRun(runInput(1, 1));
      await store.transition(aborted.id, ['queued'], 'aborted');
      expect(
        (await store.completeShardWithResults(aborted.id, 0, 1, ok, [res('s0t0', 'passed')]))
          .applied,
      ).toBe(false);
      expect(await resultCount(db, aborted.id)).toBe(0);
      await expectStoreError(
        store.completeShardWithResults(run.id, 2, 1, ok, []),
        'shard_out_of_range',
      );
      await expectStoreError(
        store.completeShardWithResults(run.id, 0, 1, ok, [
          { ...res('a', 'passed'), durationMs: -1 },
        ]),
        'invalid_input',
      );
    });

    it('a retry’s purge removes only that shard’s executed results, keeping siblings and pre-seeded skips', async () => {
      const run = await store.createRun(runInput(2, 3));
      const r = (testId: string, status: 'passed' | 'failed' | 'skipped', attempt: number) => ({
        testId,
        name: testId,
        status,
        durationMs: 1,
        error: status === 'failed' ? 'nope' : null,
        attempt,
      });
      await insertResults(db, run.id, 0, [
        r('s0t0', 'passed', 1),
        r('s0t1', 'failed', 1),
        r('s0t2', 'skipped', 0),
      ]);
      await insertResults(db, run.id, 1, [
        r('s1t0', 'passed', 1),
        r('s1t1', 'skipped', 1),
        r('s1t2', 'skipped', 0),
      ]);
      expect((await store.beginShard(run.id, 0, 2, { purge: true }))?.purged).toBe(2);
      const page = await store.getResults(run.workspaceId, run.id);
      expect(page?.results.map((x) => x.testId)).toEqual(['s0t2', 's1t0', 's1t1', 's1t2']);
      expect((await store.beginShard(run.id, 0, 3, { purge: true }))?.purged).toBe(0);
      // Without `purge` (a first delivery) nothing is deleted.
      expect((await store.beginShard(run.id, 1, 1))?.purged).toBe(0);
      expect(await resultCount(db, run.id)).toBe(4);
    });

    it('a completed shard’s results are final: a retry purges nothing and a late completion inserts nothing', async () => {
      const run = await store.createRun(runInput(2, 1));
      const res = (attempt: number, status: 'passed' | 'failed') => ({
        testId: 's0t0',
        name: 't',
        status,
        durationMs: 1,
        error: null,
        attempt,
      });
      await store.completeShardWithResults(run.id, 0, 1, { passed: 1, failed: 0, skipped: 0 }, [
        res(1, 'passed'),
      ]);
      // A redelivered job re-runs the completed shard: its purge and its results change nothing.
      expect(await store.beginShard(run.id, 0, 2, { purge: true })).toMatchObject({
        started: false,
        purged: 0,
      });
      const late = await store.completeShardWithResults(
        run.id,
        0,
        2,
        { passed: 0, failed: 1, skipped: 0 },
        [res(2, 'failed')],
      );
      expect(late.applied).toBe(false);
      const page = await store.getResults(run.workspaceId, run.id);
      expect(page?.results.map((r) => [r.testId, r.status, r.attempt])).toEqual([
        ['s0t0', 'passed', 1],
      ]);
    });

    it('completeShardWithResults keeps every field of a result', async () => {
      const run = await store.createRun(runInput(1, 2));
      const first = result('s0t0', { name: 'first', status: 'failed', durationMs: 12, error: 'e' });
      const second = result('s0t1', { name: 'second', durationMs: 3 });
      await store.completeShardWithResults(run.id, 0, 1, { passed: 1, failed: 1, skipped: 0 }, [
        first,
        second,
      ]);
      expect(await resultCount(db, run.id)).toBe(2);
      const page = await store.getResults(run.workspaceId, run.id);
      expect(page?.results).toEqual(
        expect.arrayContaining([
          { runId: run.id, shardIndex: 0, ...first },
          { runId: run.id, shardIndex: 0, ...second },
        ]),
      );
    });

    it('completeShardWithResults refuses an unknown run, a bad shard and a bad entry, writing nothing', async () => {
      const run = await store.createRun(runInput(2, 1));
      const good = result('s0t0');
      const stats = { passed: 1, failed: 0, skipped: 0 };
      const before = { run: await store.getRunById(run.id), shards: await shardRows(db, run.id) };
      const send = (runId: string, shard: number, results: NewResult[]) =>
        store.completeShardWithResults(runId, shard, 1, stats, results);
      await expectStoreError(send(randomUUID(), 0, [good]), 'not_found');
      await expectStoreError(send(run.id, 2, [good]), 'shard_out_of_range');
      const bad = { ...good, testId: 's0t1', durationMs: -4 };
      expect(
        (await expectStoreError(send(run.id, 0, [good, bad]), 'invalid_input')).message,
      ).toContain('results[1].durationMs');
      const flaky = JSON.parse(JSON.stringify({ ...good, status: 'flaky' })) as typeof good;
      await expectStoreError(send(run.id, 0, [flaky]), 'invalid_input');
      await expectStoreError(send(run.id, 0, [good, good]), 'invalid_input');
      expect(await resultCount(db, run.id)).toBe(0);
      expect({ run: await store.getRunById(run.id), shards: await shardRows(db, run.id) }).toEqual(
        before,
      );
    });
  });

  // Calls that find every statement slot busy share one statement (group commit): each must
  // get the outcome it would have had alone, whatever else is in its batch. With one slot,
  // the first call of a tick goes alone and the rest of the tick waits for it as one batch.
  describe('batched begins and completions', () => {
    let store: RunStore;
    beforeAll(() => {
      store = createRunStore(db, { statementsInFlight: 1 });
    });

    it('refuses a statement budget below 1, naming it', async () => {
      for (const bad of [0, 1.5, -1]) {
        expect(() => createRunStore(db, { statementsInFlight: bad })).toThrow(
          expect.objectContaining({
            code: 'invalid_input',
            message: expect.stringContaining('statementsInFlight'),
          }),
        );
      }
    });

    it('beginShard calls of one tick: each outcome as alone, one wasQueued per run', async () => {
      const [a, b, gone] = await Promise.all([
        store.createRun(runInput(3, 1)),
        store.createRun(runInput(2, 1)),
        store.createRun(runInput(1, 1)),
      ]);
      await store.transition(gone.id, ['queued'], 'aborted');
      await insertResults(db, b.id, 1, [result('s1t0')]);
      // b as fair dispatch leaves a run it released shards of: its begins say so.
      await sql`update runs set released_at = now() where id = ${b.id}`.execute(db);
      // b's shard 1 goes alone (the one slot is free); every other call waits for it as one batch.
      const calls = [
        store.beginShard(b.id, 1, 2, { purge: true }),
        store.beginShard(a.id, 0, 1),
        store.beginShard(a.id, 2, 1),
        store.beginShard(gone.id, 0, 1),
        store.beginShard(randomUUID(), 0, 1),
        store.beginShard(a.id, 1, 1),
        store.beginShard(b.id, 0, 1),
      ];
      const outOfRange = expectStoreError(store.beginShard(a.id, 3, 1), 'shard_out_of_range');
      const [b1, a0, a2, g0, missing, a1, b0] = await Promise.all(calls);
      await outOfRange;
      for (const o of [a0, a2, a1])
        expect(o).toMatchObject({ status: 'queued', started: true, released: false });
      for (const o of [b1, b0]) expect(o).toMatchObject({ released: true });
      expect([a0, a2, a1].filter((o) => o?.wasQueued)).toHaveLength(1);
      expect([b1, b0].filter((o) => o?.wasQueued)).toHaveLength(1);
      expect(b1).toMatchObject({ started: true, purged: 1, shardCount: 2, total: 2 });
      expect(b0).toMatchObject({ started: true, purged: 0 });
      expect(g0).toMatchObject({ status: 'aborted', started: false, wasQueued: false });
      expect(missing).toBeUndefined();
      // First attempts write no shard row; b's retry records its attempt.
      expect((await shardRows(db, a.id)).map((r) => [r.status, r.attempt])).toEqual([
        ['pending', 0],
        ['pending', 0],
        ['pending', 0],
      ]);
      expect((await shardRows(db, b.id)).map((r) => [r.status, r.attempt])).toEqual([
        ['pending', 0],
        ['running', 2],
      ]);
      expect((await store.getRunById(a.id))?.status).toBe('running');
      expect((await store.getRunById(gone.id))?.status).toBe('aborted');
    });

    it('completions of one tick: exactly one finalizer per run, counts in shard order, duplicates not applied', async () => {
      const [a, b] = await Promise.all([
        store.createRun(runInput(4, 1)),
        store.createRun(runInput(2, 1)),
      ]);
      await Promise.all([markRunning(store, a.id), markRunning(store, b.id)]);
      const stats = (s: number) => ({ passed: s, failed: 1, skipped: 0 });
      const done = (runId: string, s: number, over = stats(s)) =>
        store.completeShardWithResults(runId, s, 1, over, [
          result(`s${s}t0`, { status: 'failed' }),
        ]);
      const outcomes = await Promise.all([
        done(a.id, 3),
        done(b.id, 0),
        done(a.id, 1),
        done(a.id, 3, { passed: 9, failed: 9, skipped: 9 }),
        done(a.id, 0),
        done(b.id, 1),
        done(a.id, 2),
      ]);
      const ofA = [outcomes[0], outcomes[2], outcomes[3], outcomes[4], outcomes[6]];
      expect(ofA.filter((o) => o?.applied)).toHaveLength(4);
      expect(ofA.filter((o) => o?.isFinalizer)).toHaveLength(1);
      expect(
        ofA
          .filter((o) => o?.applied)
          .map((o) => o?.shardsCompleted)
          .sort(),
      ).toEqual([1, 2, 3, 4]);
      expect([outcomes[1], outcomes[5]].filter((o) => o?.isFinalizer)).toHaveLength(1);
      // The duplicate goes in the next batch, which may be written first: one of the two applies.
      expect([outcomes[0], outcomes[3]].filter((o) => o?.applied)).toHaveLength(1);
      const three = outcomes[0]?.applied ? stats(3) : { passed: 9, failed: 9 };
      expect(await store.getRunById(a.id)).toMatchObject({
        shardsCompleted: 4,
        passed: 0 + 1 + 2 + three.passed,
        failed: 3 + three.failed,
      });
      expect(await resultCount(db, a.id)).toBe(4);
      expect(await store.getRunById(b.id)).toMatchObject({ shardsCompleted: 2, passed: 1 });
      await expectStoreError(done(a.id, 4), 'shard_out_of_range');
      await expectStoreError(done(randomUUID(), 0), 'not_found');
    });

    it('the batch statement finalizes a run whose last completions it holds, with the running sums', async () => {
      const [a, b] = await Promise.all([
        store.createRun(runInput(3, 1)),
        store.createRun(runInput(2, 1)),
      ]);
      await Promise.all([markRunning(store, a.id), markRunning(store, b.id)]);
      // a's shard 0 completed alone first (its second attempt, 1 failure): counted in the sums.
      await complete(store, a.id, 0, 2, { passed: 0, failed: 1, skipped: 0 });
      const call = (runId: string, shardIndex: number, attempt: number, failed: number) => ({
        runId,
        shardIndex,
        attempt,
        stats: { passed: 1, failed, skipped: 0 },
        results: [],
        finalize: true,
      });
      const calls = [call(a.id, 2, 3, 2), call(b.id, 0, 1, 0), call(a.id, 1, 1, 0)];
      const rows = await completeShardsSql(db, calls);
      expect(rows.map((r) => r?.shards_completed)).toEqual([3, 1, 2]);
      expect(rows.map((r) => r?.finalized !== undefined)).toEqual([true, false, false]);
      expect(rowToRun(rows[0]?.finalized as RunRow)).toMatchObject({
        id: a.id,
        status: 'completed',
        passed: 2,
        failed: 3,
        retryCount: 3,
        failedAfterRetry: 3,
      });
      expect((await store.getRunById(b.id))?.status).toBe('running');
      // A batch with a call that did not ask finalizes nothing.
      const c = await store.createRun(runInput(2, 1));
      await markRunning(store, c.id);
      const mixed = await completeShardsSql(db, [
        call(c.id, 0, 1, 0),
        { ...call(c.id, 1, 1, 0), finalize: false },
      ]);
      expect(mixed.map((r) => [r?.shards_completed, r?.finalized])).toEqual([
        [1, undefined],
        [2, undefined],
      ]);
      expect((await store.getRunById(c.id))?.status).toBe('running');
      // Nor a run one of whose shards a version before the running sums completed.
      const d = await store.createRun(runInput(2, 1));
      await markRunning(store, d.id);
      await completeAsOlderVersion(db, d.id, 0, 2, 1);
      const [last] = await completeShardsSql(db, [call(d.id, 1, 1, 0), call(b.id, 1, 1, 0)]);
      expect(last).toMatchObject({ shards_completed: 2, applied: true });
      expect(last?.finalized).toBeUndefined();
      expect((await store.getRunById(d.id))?.status).toBe('running');
    });

    it('finalizeRun calls of one tick: each run completed once with its own counts; an aborted one and a duplicate lose', async () => {
      const [a, b, aborted] = await Promise.all([
        store.createRun(runInput(2, 1)),
        store.createRun(runInput(1, 1)),
        store.createRun(runInput(1, 1)),
      ]);
      await Promise.all([a, b].map((r) => markRunning(store, r.id)));
      // a: shard 1 needed a second attempt, with one failed test.
      await complete(store, a.id, 0, 1, ok);
      await complete(store, a.id, 1, 2, { passed: 0, failed: 1, skipped: 0 });
      await complete(store, b.id, 0, 1, ok);
      await store.transition(aborted.id, ['queued'], 'aborted');
      const [fa, fb, fx, again] = await Promise.all([
        store.finalizeRun(a.id),
        store.finalizeRun(b.id),
        store.finalizeRun(aborted.id),
        store.finalizeRun(a.id),
      ]);
      // The duplicate goes in the next batch, which may be written first: one of the two wins.
      expect([fa, again].filter((f) => f.won)).toHaveLength(1);
      const winner = fa.won ? fa : again;
      expect(winner.run).toMatchObject({ status: 'completed', retryCount: 1, failedAfterRetry: 1 });
      expect(winner.run.finishedAt).toBeInstanceOf(Date);
      expect((fa.won ? again : fa).run.status).toBe('completed');
      expect(fb).toMatchObject({ won: true, run: { status: 'completed', retryCount: 0 } });
      expect(fx).toMatchObject({ won: false, run: { status: 'aborted' } });
    });

    it('completions of one tick for a terminal run apply nothing, beside a live run that applies', async () => {
      const [live, aborted] = await Promise.all([
        store.createRun(runInput(1, 1)),
        store.createRun(runInput(2, 1)),
      ]);
      await store.transition(aborted.id, ['queued'], 'aborted');
      const [l0, x0, x1] = await Promise.all([
        complete(store, live.id, 0, 1, ok),
        complete(store, aborted.id, 0, 1, ok),
        complete(store, aborted.id, 1, 1, ok),
      ]);
      expect(l0).toEqual({ applied: true, shardsCompleted: 1, shardCount: 1, isFinalizer: true });
      for (const o of [x0, x1]) expect(o).toMatchObject({ applied: false, isFinalizer: false });
      expect(await store.getRunById(aborted.id)).toMatchObject({
        status: 'aborted',
        shardsCompleted: 0,
        passed: 0,
      });
      expect((await shardRows(db, aborted.id)).map((r) => r.status)).not.toContain('completed');
    });
  });

  describe('reconcile and restart', () => {
    it('terminalRuns returns only the terminal runs among those asked, ignoring malformed ids', async () => {
      const a = await store.createRun(runInput(1));
      const b = await store.createRun(runInput(1));
      const c = await store.createRun(runInput(1));
      await store.transition(a.id, ['queued'], 'aborted');
      await store.transition(b.id, ['queued'], 'failed');
      const got = await store.terminalRuns([a.id, b.id, c.id, 'junk', randomUUID()]);
      expect(got.sort((x, y) => x.status.localeCompare(y.status))).toEqual([
        { id: a.id, status: 'aborted' },
        { id: b.id, status: 'failed' },
      ]);
      expect(await store.terminalRuns([])).toEqual([]);
    });

    it('failInterruptedRuns fails every queued and running run and leaves terminal ones alone', async () => {
      const queued = await store.createRun(runInput(1));
      const running = await store.createRun(runInput(1));
      const done = await store.createRun(runInput(1));
      await markRunning(store, running.id);
      await store.transition(done.id, ['queued'], 'aborted', { error: 'user' });
      const ids = await store.failInterruptedRuns('process restarted');
      expect(ids).toEqual(expect.arrayContaining([queued.id, running.id]));
      expect(ids).not.toContain(done.id);
      expect(await store.getRunById(queued.id)).toMatchObject({
        status: 'failed',
        error: 'process restarted',
      });
      // Its end is when it was failed; how long it ran before the stop is unknown.
      expect(await store.getRunById(running.id)).toMatchObject({
        status: 'failed',
        finishedAt: expect.any(Date),
        durationMs: null,
      });
      expect(await store.getRunById(done.id)).toMatchObject({ status: 'aborted', error: 'user' });
      await expectStoreError(store.failInterruptedRuns(''), 'invalid_input');
    });
  });

  callbackOutboxSuite(() => store);
  enqueueOutboxSuite(() => store);
  fairDispatchSuite(() => store);
  idempotencySuite(() => ({ db, store }));
  retentionSuite(() => ({ db, store }));
  tagsSuite(() => ({ db, store }));
}
