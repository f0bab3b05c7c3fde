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
  shards: readonly { testIds: readonly string[]; payload: unknown }[];
  total: number;
}

const shardsJson = (p: CreateRunParams) =>
  JSON.stringify(p.shards.map((s) => ({ t: s.testIds, p: s.payload ?? null })));

/**
 * One statement: upsert the workspace, insert the run, insert one row per shard.
 * Params: the validated {@link CreateRunParams}; the shards travel as one jsonb array of
 * `{t: test ids, p: job payload}`. Output: the new run row, `enqueued_at` null: the run waits
 * in the enqueue outbox until an enqueuer hands its shards to the queue.
 */
export async function createRunSql(db: Kysely<Database>, p: CreateRunParams): Promise<RunRow> {
  const { rows } = await sql<RunRow>`
    with ws as (
      insert into workspaces (id) values (${p.workspaceId}) on conflict (id) do nothing
    ), run as (
      insert into runs (id, workspace_id, executor, name, callback_url, shard_count, total)
      values (coalesce(${p.id}::uuid, gen_random_uuid()), ${p.workspaceId}, ${p.executor}, ${p.name},
              ${p.callbackUrl}, ${p.shards.length}, ${p.total})
      returning *
    ), shards as (
      insert into run_shards (run_id, shard_index, test_ids, payload)
      select run.id, (s.ord - 1)::int, array(select jsonb_array_elements_text(s.shard->'t')),
             nullif(s.shard->'p', 'null'::jsonb)
      from run, jsonb_array_elements(${shardsJson(p)}::jsonb) with ordinality as s(shard, ord)
    )
    select * from run`.execute(db);
  const row = rows[0];
  if (!row) throw new RunStoreError('internal', 'createRun: insert into runs returned no row');
  return row;
}
