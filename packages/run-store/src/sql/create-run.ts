import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import { RunStoreError } from '../run-store-error.js';
import type { Database } from '../schema.js';
import { firstRow } from './statement.js';

/** A validated run to create (validateCreateRun), its JSON already text. */
export interface CreateRunParams {
  id: string | null;
  workspaceId: string;
  executor: string;
  name: string | null;
  callbackUrl: string | null;
  tags: readonly string[];
  /** The metadata object as JSON text. */
  metadataJson: string;
  shardCount: number;
  /** The shards as one JSON array of `{"t": test ids, "p": job payload}`, in shard order. */
  shardsJson: string;
  total: number;
}

/** The key a run is created under (createRunOnce): the run's id must be known up front. */
export interface IdempotencyParams {
  runId: string;
  key: string;
  requestHash: string;
  /** A key row older than this is free again: it is taken over by the new run. */
  expireAfterMs: number;
}

/**
 * The create, with or without the idempotency key's claim: one constant text each (see
 * statement.ts), $1–$10 the run, $11–$13 the key.
 */
const createRunText = (once: boolean) => `
    with ws as (
      insert into workspaces (id) values ($2) on conflict (id) do nothing
    ), ${
      once
        ? `key as (
        insert into idempotency_keys (workspace_id, key, request_hash, run_id)
        values ($2, $11, $12, $1::uuid)
        on conflict (workspace_id, key) do update
          set request_hash = excluded.request_hash, run_id = excluded.run_id, created_at = now()
          where idempotency_keys.created_at <= now() - $13::bigint * interval '1 millisecond'
        returning run_id
      ), `
        : ''
    }run as (
      insert into runs (id, workspace_id, executor, name, callback_url, shard_count, total,
                        tags, metadata)
      select coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6::int, $7::int,
             $8::text[], $9::jsonb
      ${once ? 'where exists (select 1 from key)' : ''}
      returning *
    ), shards as (
      insert into run_shards (run_id, shard_index, test_ids, payload)
      select run.id, (s.ord - 1)::int, array(select jsonb_array_elements_text(s.shard->'t')),
             nullif(s.shard->'p', 'null'::jsonb)
      from run, jsonb_array_elements($10::jsonb) with ordinality as s(shard, ord)
    )
    select * from run`;
const CREATE_RUN = createRunText(false);
const CREATE_RUN_ONCE = createRunText(true);

/**
 * One statement: upsert the workspace, insert the run, insert one row per shard.
 * Params: the validated {@link CreateRunParams}; the shards travel as one jsonb array of
 * `{t: test ids, p: job payload}`. Output: the new run row, `enqueued_at` null: the run waits
 * in the enqueue outbox until an enqueuer hands its shards to the queue.
 *
 * With `once`, the statement first claims the workspace's idempotency key and inserts the run
 * only if it got it, so a key and its run commit together or not at all. A concurrent
 * statement with the same key waits on the key's unique index until the first commits, then
 * finds the key taken (`on conflict`) and inserts nothing: exactly one run per key, however
 * many replicas race. An expired key row is taken over (`do update … where`) instead.
 * Output then: the new run row, or undefined when the key was taken.
 */
export async function createRunSql(
  db: Kysely<Database>,
  p: CreateRunParams,
  once?: IdempotencyParams,
): Promise<RunRow | undefined> {
  const run = [
    once ? once.runId : p.id,
    p.workspaceId,
    p.executor,
    p.name,
    p.callbackUrl,
    p.shardCount,
    p.total,
    p.tags,
    p.metadataJson,
    p.shardsJson,
  ];
  const row = once
    ? await firstRow<RunRow>(db, CREATE_RUN_ONCE, [
        ...run,
        once.key,
        once.requestHash,
        once.expireAfterMs,
      ])
    : await firstRow<RunRow>(db, CREATE_RUN, run);
  if (!row && !once)
    throw new RunStoreError('internal', 'createRun: insert into runs returned no row');
  return row;
}

export interface KeyedRunRow extends RunRow {
  request_hash: string;
}

/** The run a workspace's idempotency key names, with the request fingerprint it was made with. */
export async function keyedRunSql(
  db: Kysely<Database>,
  workspaceId: string,
  key: string,
): Promise<KeyedRunRow | undefined> {
  const { rows } = await sql<KeyedRunRow>`
    select r.*, k.request_hash from idempotency_keys k join runs r on r.id = k.run_id
    where k.workspace_id = ${workspaceId} and k.key = ${key}`.execute(db);
  return rows[0];
}

/** Deletes keys created more than `olderThanMs` ago; returns how many. */
export async function deleteIdempotencyKeysSql(
  db: Kysely<Database>,
  olderThanMs: number,
): Promise<number> {
  const result = await sql`
    delete from idempotency_keys
    where created_at < now() - ${olderThanMs}::bigint * interval '1 millisecond'`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
