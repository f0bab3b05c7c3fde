import { postgres, type TestDatabase } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, migrate, openPostgres } from '../src/index.js';
import { BEGIN_SHARD } from '../src/sql/begin-shard.js';
import { BEGIN_SHARDS } from '../src/sql/begin-shards.js';
import { COMPLETE_SHARD_SQL } from '../src/sql/complete-shard.js';
import { COMPLETE_SHARDS } from '../src/sql/complete-shards.js';

// A worker's statements read a run by id, and must do it by primary key whatever the
// planner believes. Two beliefs made them scan instead: a batch's calls come from a function
// the planner takes for 100 rows (so it hash-joined over a scan of `runs`), and statistics
// older than a burst of new runs (so it took the index of live runs for nearly empty and
// scanned it whole; measured with 5,000 runs created after the last analyze: a completion
// 2.0–3.4 ms, a batch of begins 7–12 ms, against 0.1–0.45 by primary key). The database
// below is in that state: a history analyzed, then a burst of live runs the statistics have
// not seen. The plan checked is the generic one, which pg keeps for a prepared statement.
describe('the worker statements read runs by primary key on PostgreSQL', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;

  beforeAll(async () => {
    database = await postgres('runstore_batch_plan');
    db = openPostgres(database.url, { max: 1 });
    await migrate(db);
    await sql`insert into workspaces (id) values ('ws')`.execute(db);
    await sql`insert into runs (workspace_id, executor, shard_count, shards_completed, total,
                                status, finished_at, enqueued_at)
      select 'ws', 'demo', 4, 4, 4, 'completed', now(), now() from generate_series(1, 5000)`.execute(
      db,
    );
    await sql`analyze`.execute(db);
    await sql`insert into runs (workspace_id, executor, shard_count, total, status)
      select 'ws', 'demo', 4, 4, 'queued' from generate_series(1, 2000)`.execute(db);
    await sql`insert into run_shards (run_id, shard_index, test_ids)
      select r.id, i, array['t'] from runs r, generate_series(0, 3) i`.execute(db);
  });
  afterAll(async () => {
    await db.destroy();
    await database.close();
  });

  /** The generic plan's lines that read `runs`: a sequential scan of it, or a scan of one of its indexes (all named `runs_…`). */
  const runScans = async (params: string, text: string, args: string) => {
    await sql`set plan_cache_mode = force_generic_plan`.execute(db);
    try {
      await sql.raw(`prepare worker_statement(${params}) as ${text}`).execute(db);
      const { rows } = await sql<{ 'QUERY PLAN': string }>`
        ${sql.raw(`explain (costs off) execute worker_statement(${args})`)}`.execute(db);
      return rows
        .map((r) => r['QUERY PLAN'])
        .filter((line) => /Seq Scan on runs\b|Scan (?:using|on) runs_\w+/.test(line));
    } finally {
      await sql`deallocate all`.execute(db);
      await sql`reset plan_cache_mode`.execute(db);
    }
  };
  const byPrimaryKey = (scans: string[]) => {
    expect(scans.length).toBeGreaterThan(0);
    for (const line of scans) expect(line).toMatch(/Scan (?:using|on) runs_pkey\b/);
  };
  const id = '00000000-0000-4000-8000-000000000000';

  it('beginShard', async () => {
    byPrimaryKey(await runScans('uuid, int, int, boolean', BEGIN_SHARD, `'${id}', 0, 1, false`));
  });

  it('beginShard, batched', async () => {
    byPrimaryKey(
      await runScans(
        'uuid[], int[], int[], boolean[]',
        BEGIN_SHARDS,
        `'{${id}}', '{0}', '{1}', '{f}'`,
      ),
    );
  });

  it('completeShardWithResults', async () => {
    byPrimaryKey(
      await runScans(
        'uuid, int, int, int, int, int, jsonb',
        COMPLETE_SHARD_SQL,
        `'${id}', 0, 1, 1, 0, 0, '[]'`,
      ),
    );
  });

  it('completeShardWithResults, batched', async () => {
    byPrimaryKey(await runScans('jsonb', COMPLETE_SHARDS, `'[]'`));
  });
});
