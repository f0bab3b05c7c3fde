import { postgres, type TestDatabase } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, migrate, openPostgres } from '../src/index.js';
import { BEGIN_SHARD } from '../src/sql/begin-shard.js';
import { BEGIN_SHARDS } from '../src/sql/begin-shards.js';
import { COMPLETE_SHARD_SQL } from '../src/sql/complete-shard.js';
import { COMPLETE_SHARDS } from '../src/sql/complete-shards.js';
import { listRunsQuery, TERMINAL_RUNS } from '../src/sql/read-runs.js';

// A worker's statements read a run by id, and must do it by primary key whatever the
// planner believes. Two beliefs made them scan instead: a batch's calls come from a function
// the planner takes for 100 rows (so it hash-joined over a scan of `runs`), and statistics
// older than a burst of new runs (so it took the index of live runs for nearly empty and
// scanned it whole; measured with 5,000 runs created after the last analyze: a completion
// 2.0–3.4 ms, a batch of begins 7–12 ms, against 0.1–0.45 by primary key). The database
// below is in that state: a history analyzed, then a burst of live runs the statistics have
// not seen. Both plans pg may use for a prepared statement are checked: the custom one (its
// first executions, the parameters known) and the generic one it may keep.
const MODES = ['force_custom_plan', 'force_generic_plan'] as const;

/** The plan's lines that read `runs`: a sequential scan of it, or a scan of one of its indexes (all named `runs_…`). */
async function runScans(
  db: Kysely<Database>,
  mode: (typeof MODES)[number],
  statement: { params: string; text: string; args: string },
) {
  await sql.raw(`set plan_cache_mode = ${mode}`).execute(db);
  try {
    await sql.raw(`prepare worker_statement(${statement.params}) as ${statement.text}`).execute(db);
    const { rows } = await sql<{ 'QUERY PLAN': string }>`
      ${sql.raw(`explain (costs off) execute worker_statement(${statement.args})`)}`.execute(db);
    return rows
      .map((r) => r['QUERY PLAN'])
      .filter((line) => /Seq Scan on runs\b|Scan (?:using|on) runs_\w+/.test(line));
  } finally {
    await sql`deallocate all`.execute(db);
    await sql`reset plan_cache_mode`.execute(db);
  }
}

function expectPrimaryKeyOnly(scans: string[]) {
  expect(scans.length).toBeGreaterThan(0);
  for (const line of scans) expect(line).toMatch(/Scan (?:using|on) runs_pkey\b/);
}

const id = '00000000-0000-4000-8000-000000000000';

/** A database of the describe's own: migrated, one workspace, then `fill` (its statistics' state). */
function planDatabase(name: string, fill: (db: Kysely<Database>) => Promise<void>) {
  let database: TestDatabase | undefined;
  let db: Kysely<Database> | undefined;
  beforeAll(async () => {
    database = await postgres(name);
    db = openPostgres(database.url, { max: 1 });
    await migrate(db);
    await sql`insert into workspaces (id) values ('ws')`.execute(db);
    await fill(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.close();
  });
  return () => {
    if (!db) throw new Error('planDatabase: used before its beforeAll');
    return db;
  };
}

describe('the worker statements read runs by primary key on PostgreSQL', () => {
  const db = planDatabase('runstore_batch_plan', async (db) => {
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

  const statements = {
    beginShard: {
      params: 'uuid, int, int, boolean',
      text: BEGIN_SHARD,
      args: `'${id}', 0, 1, false`,
    },
    'beginShard, batched': {
      params: 'uuid[], int[], int[], boolean[]',
      text: BEGIN_SHARDS,
      args: `'{${id}}', '{0}', '{1}', '{f}'`,
    },
    completeShardWithResults: {
      params: 'uuid, int, int, int, int, int, jsonb, boolean',
      text: COMPLETE_SHARD_SQL,
      args: `'${id}', 0, 1, 1, 0, 0, '[]', true`,
    },
    'completeShardWithResults, batched': {
      params: 'jsonb, boolean',
      text: COMPLETE_SHARDS,
      args: `'[]', true`,
    },
  };
  for (const mode of MODES) {
    for (const [name, statement] of Object.entries(statements)) {
      it(`${name} (${mode})`, async () => {
        expectPrimaryKeyOnly(await runScans(db(), mode, statement));
      });
    }
  }
});

// The abort reconcile's read: a few ids, terminal or not. The index of finished runs covers
// `status in` the terminal statuses; statistics taken while most runs were still live made
// the planner scan it whole (15,000 runs finished since: 4.6 ms against 0.04 by primary key).
describe('terminalRuns reads runs by primary key on PostgreSQL', () => {
  const db = planDatabase('runstore_terminal_plan', async (db) => {
    await sql`insert into runs (workspace_id, executor, shard_count, total, status)
      select 'ws', 'demo', 4, 4, 'running' from generate_series(1, 6000)`.execute(db);
    await sql`analyze`.execute(db);
    await sql`update runs set status = 'completed', finished_at = now()
      where id in (select id from runs limit 5000)`.execute(db);
  });

  for (const mode of MODES) {
    it(`terminalRuns (${mode})`, async () => {
      expectPrimaryKeyOnly(
        await runScans(db(), mode, { params: 'uuid[]', text: TERMINAL_RUNS, args: `'{${id}}'` }),
      );
    });
  }
});

// The tag filter's index holds tagged runs only (migration 0014), so the planner may use it
// only when the statement says `tags <> '{}'`: the store's list statement must say it, in a
// custom plan and in the generic one its prepared statement may keep. Most runs untagged, a
// few with a rare tag: without the index the page means reading every run of the workspace.
describe('listRuns with a tag filter uses the index of tagged runs on PostgreSQL', () => {
  const db = planDatabase('runstore_tags_plan', async (db) => {
    await sql`insert into runs (workspace_id, executor, shard_count, total, tags, created_at)
      select 'ws', 'demo', 1, 1,
             case when g % 200 = 0 then array['rare', 'branch:main'] else '{}' end,
             now() - g * interval '1 second'
      from generate_series(1, 8000) g`.execute(db);
    await sql`analyze`.execute(db);
  });
  const filter = {
    statuses: [],
    tags: ['rare'],
    createdAfter: undefined,
    createdBefore: undefined,
    limit: 50,
    after: undefined,
  };
  const listStatement = () => {
    const { sql: text, parameters } = listRunsQuery(db(), 'ws', filter).compile();
    expect(parameters).toEqual(['ws', ['rare'], 51]);
    return { params: 'text, text[], bigint', text, args: `'ws', '{rare}', 51` };
  };
  it('answers the tagged runs, newest first', async () => {
    const rows = await listRunsQuery(db(), 'ws', filter).execute();
    expect(rows).toHaveLength(40);
    expect(rows.every((r) => r.tags.includes('rare'))).toBe(true);
    const times = rows.map((r) => r.created_at.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });
  for (const mode of MODES) {
    it(`listRuns, one tag (${mode})`, async () => {
      const scans = await runScans(db(), mode, listStatement());
      expect(scans.some((line) => /Bitmap Index Scan on runs_tagged\b/.test(line))).toBe(true);
    });
  }
  it('without `tags <> {}` the statement could not use it (why the store says it)', async () => {
    const { text } = listStatement();
    const bare = text.replace(" and tags <> '{}'", '');
    expect(bare).not.toBe(text);
    const scans = await runScans(db(), 'force_custom_plan', { ...listStatement(), text: bare });
    expect(scans.join('\n')).not.toMatch(/runs_tagged/);
  });
});
