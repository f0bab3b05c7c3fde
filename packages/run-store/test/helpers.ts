import { uniqueName } from '@x/testkit';
import type { Kysely } from 'kysely';
import { expect } from 'vitest';
import {
  type CreateRunInput,
  type Database,
  RunStoreError,
  type RunStoreErrorCode,
} from '../src/index.js';

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
