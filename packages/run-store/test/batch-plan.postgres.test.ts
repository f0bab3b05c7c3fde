import { postgres, type TestDatabase } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, migrate, openPostgres } from '../src/index.js';
import { COMPLETE_SHARDS } from '../src/sql/complete-shards.js';

// The group-committed completion reads its calls from a function (`jsonb_array_elements`),
// whose rows the planner takes for 100: with an EXISTS or a plain join on `runs` it chose a
// hash join over a scan of `runs_live` or of all of `runs`, so every batch read the whole
// table (measured in the shard-worker bench: buffers a call grew from 185 to 268 over 4,000
// runs). Its reads of `runs` must stay probes by primary key, whatever the table holds.
describe('the batched completion plan on PostgreSQL', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;

  beforeAll(async () => {
    database = await postgres('runstore_batch_plan');
    db = openPostgres(database.url, { max: 1 });
    await migrate(db);
    await sql`insert into workspaces (id) values ('ws')`.execute(db);
    // History: finished runs with their shards, and a few live ones, as a store in use holds.
    await sql`insert into runs (workspace_id, executor, shard_count, shards_completed, total, status)
      select 'ws', 'demo', 4, case when g % 50 = 0 then 0 else 4 end, 4,
             case when g % 50 = 0 then 'running' else 'completed' end
      from generate_series(1, 5000) g`.execute(db);
    await sql`insert into run_shards (run_id, shard_index, test_ids, status)
      select r.id, i, array['t'], case when r.status = 'completed' then 'completed' else 'pending' end
      from runs r, generate_series(0, 3) i`.execute(db);
    await sql`analyze`.execute(db);
  });
  afterAll(async () => {
    await db.destroy();
    await database.close();
  });

  /** The generic plan (the one pg keeps for a prepared statement) of `text`'s lines reading `runs`. */
  const runScans = async (params: string, text: string, args: string) => {
    await sql`set plan_cache_mode = force_generic_plan`.execute(db);
    try {
      await sql.raw(`prepare batch(${params}) as ${text}`).execute(db);
      const { rows } = await sql<{ 'QUERY PLAN': string }>`
        ${sql.raw(`explain (costs off) execute batch(${args})`)}`.execute(db);
      return rows.map((r) => r['QUERY PLAN']).filter((line) => /Scan.* on runs\b/.test(line));
    } finally {
      await sql`deallocate all`.execute(db);
      await sql`reset plan_cache_mode`.execute(db);
    }
  };

  it('completions: reads runs only by primary key', async () => {
    const scans = await runScans('jsonb', COMPLETE_SHARDS, `'[]'`);
    expect(scans.length).toBeGreaterThan(0);
    for (const line of scans) expect(line).toMatch(/Index Scan using runs_pkey on runs/);
  });
});
