import { uniqueName } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { expect } from 'vitest';
import {
  type CompleteShardOutcome,
  type CreateRunInput,
  type Database,
  type NewResult,
  type RunStore,
  RunStoreError,
  type RunStoreErrorCode,
  type ShardStats,
} from '../src/index.js';
import { resultColumns } from '../src/row-mapping.js';

/** Asserts the promise rejects with a RunStoreError of that code; returns the error. */
export async function expectStoreError(
  p: Promise<unknown>,
  code: RunStoreErrorCode,
): Promise<RunStoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunStoreError);
  expect((err as RunStoreError).code).toBe(code);
  return err as RunStoreError;
}

/** A run with `shardCount` shards of `perShard` tests each, in a fresh workspace. */
export function runInput(
  shardCount: number,
  perShard = 2,
  workspaceId = uniqueName('ws'),
): CreateRunInput {
  return {
    workspaceId,
    executor: 'demo',
    name: 'suite',
    shards: Array.from({ length: shardCount }, (_, s) => ({
      testIds: Array.from({ length: perShard }, (_, t) => `s${s}t${t}`),
    })),
  };
}

/** The raw shard rows of a run, for checking that a refused call wrote nothing. */
export function shardRows(db: Kysely<Database>, runId: string) {
  return db
    .selectFrom('run_shards')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy('shard_index')
    .execute();
}

export function resultCount(db: Kysely<Database>, runId: string) {
  return db
    .selectFrom('run_results')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('run_id', '=', runId)
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));
}

export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** A passed result of attempt 1 named after its test, with `over` applied. */
export function result(testId: string, over: Partial<NewResult> = {}): NewResult {
  return {
    testId,
    name: testId,
    status: 'passed',
    durationMs: 1,
    error: null,
    attempt: 1,
    ...over,
  };
}

/** queued -> running through the production write (what a run's first shard start does). */
export async function markRunning(store: RunStore, runId: string): Promise<boolean> {
  return (await store.transition(runId, ['queued'], 'running')).won;
}

/** A shard's completion with no results to record. */
export function complete(
  store: RunStore,
  runId: string,
  shardIndex: number,
  attempt: number,
  stats: ShardStats,
): Promise<CompleteShardOutcome> {
  return store.completeShardWithResults(runId, shardIndex, attempt, stats, []);
}

/**
 * A shard completed by a version before the running sums (migration 0015), the first of its
 * run: its shard row and the run's counters, and nothing counted in the sums.
 */
export async function completeAsOlderVersion(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  attempt: number,
  failed: number,
): Promise<void> {
  await sql`update run_shards set status = 'completed', attempt = ${attempt}, failed = ${failed}
    where run_id = ${runId} and shard_index = ${shardIndex}`.execute(db);
  await sql`update runs set shards_completed = 1, failed = ${failed} where id = ${runId}`.execute(
    db,
  );
}

/**
 * Result rows written straight into the table, bypassing the store: rows an older worker
 * left for a shard that never completed (a retry's purge must remove them) and pre-seeded
 * skips (attempt 0), which no current store method writes.
 */
export async function insertResults(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  results: readonly NewResult[],
): Promise<void> {
  await db
    .insertInto('run_results')
    .values(results.map((r) => ({ run_id: runId, shard_index: shardIndex, ...resultColumns(r) })))
    .execute();
}
