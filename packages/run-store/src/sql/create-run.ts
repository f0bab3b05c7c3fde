import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import { RunStoreError } from '../run-store-error.js';
import type { Database } from '../schema.js';

export interface CreateRunParams {
  id: string | null;
  workspaceId: string;
  executor: string;
  name: string | null;
  callbackUrl: string | null;
  tags: readonly string[];
  metadata: Record<string, unknown>;
  shards: readonly { testIds: readonly string[]; payload: unknown }[];
  total: number;
}

const shardsJson = (p: CreateRunParams) =>
  JSON.stringify(p.shards.map((s) => ({ t: s.testIds, p: s.payload ?? null })));

/** The key a run is created under (createRunOnce): the run's id must be known up front. */
export interface IdempotencyParams {
  runId: string;
  key: string;
  requestHash: string;
  /** A key row older than this is free again: it is taken over by the new run. */
  expireAfterMs: number;
}

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
  const id = once ? once.runId : p.id;
  const claim = once
    ? sql`key as (
        insert into idempotency_keys (workspace_id, key, request_hash, run_id)
        values (${p.workspaceId}, ${once.key}, ${once.requestHash}, ${id}::uuid)
        on conflict (workspace_id, key) do update
          set request_hash = excluded.request_hash, run_id = excluded.run_id, created_at = now()
          where idempotency_keys.created_at
            <= now() - ${once.expireAfterMs}::bigint * interval '1 millisecond'
        returning run_id
      ),`
    : sql``;
  const claimed = once ? sql`where exists (select 1 from key)` : sql``;
  const { rows } = await sql<RunRow>`
    with ws as (
      insert into workspaces (id) values (${p.workspaceId}) on conflict (id) do nothing
    ), ${claim} run as (
      insert into runs (id, workspace_id, executor, name, callback_url, shard_count, total,
                        tags, metadata)
      select coalesce(${id}::uuid, gen_random_uuid()), ${p.workspaceId}, ${p.executor}, ${p.name},
             ${p.callbackUrl}, ${p.shards.length}::int, ${p.total}::int,
             ${[...p.tags]}::text[], ${JSON.stringify(p.metadata)}::jsonb
      ${claimed}
      returning *
    ), shards as (
      insert into run_shards (run_id, shard_index, test_ids, payload)
      select run.id, (s.ord - 1)::int, array(select jsonb_array_elements_text(s.shard->'t')),
             nullif(s.shard->'p', 'null'::jsonb)
      from run, jsonb_array_elements(${shardsJson(p)}::jsonb) with ordinality as s(shard, ord)
    )
    select * from run`.execute(db);
  const row = rows[0];
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
