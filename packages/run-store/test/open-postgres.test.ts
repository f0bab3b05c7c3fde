import { freePort, postgres, type TestDatabase } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunStore,
  type Database,
  MIGRATIONS,
  migrate,
  openPostgres,
  RunStoreError,
} from '../src/index.js';
import { runInput } from './helpers.js';

describe('openPostgres and migrate on PostgreSQL', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await postgres('runstore_migrate');
  });
  afterAll(() => database.close());

  it('two processes migrating at once (separate pools) both succeed and apply each step once', async () => {
    const a = openPostgres(database.url, { max: 2 });
    const b = openPostgres(database.url, { max: 2 });
    try {
      await Promise.all([migrate(a), migrate(b), migrate(a), migrate(b)]);
      const applied = await a.selectFrom('x_run_store_migrations').selectAll().execute();
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
      const tables = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.tables
        where table_schema = 'public' and table_name in ('workspaces', 'runs', 'run_shards', 'run_results')`.execute(
        a,
      );
      expect(tables.rows[0]?.n).toBe(4);
      const run = await createRunStore(b).createRun(runInput(2));
      expect((await createRunStore(a).getRunById(run.id))?.total).toBe(4);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
  });

  it("first-attempt begins write one row, the run's; a retry's and a completion's shard updates are heap-only", async () => {
    const hot = await postgres('runstore_hot');
    // One connection: the statistics this backend flushes are the begins' own.
    const db = openPostgres(hot.url, { max: 1 });
    try {
      await migrate(db);
      const store = createRunStore(db);
      const run = await store.createRun(runInput(4));
      const counts = async () => {
        await sql`select pg_stat_force_next_flush()`.execute(db);
        await sql`select pg_stat_clear_snapshot()`.execute(db);
        const { rows } = await sql<{ relname: string; upd: number; hot: number }>`
          select relname, n_tup_upd::int as upd, n_tup_hot_upd::int as hot
          from pg_stat_user_tables where relname in ('runs', 'run_shards')`.execute(db);
        const of = (name: string) => rows.find((r) => r.relname === name) ?? { upd: -1, hot: -1 };
        return { runs: of('runs'), shards: of('run_shards') };
      };
      const before = await counts();
      for (let shard = 0; shard < 4; shard++) await store.beginShard(run.id, shard, 1);
      const begun = await counts();
      // queued -> running, once; no shard row.
      expect(begun.runs.upd - before.runs.upd).toBe(1);
      expect(begun.shards.upd - before.shards.upd).toBe(0);
      await store.beginShard(run.id, 2, 2, { purge: true });
      const retried = await counts();
      expect(retried.runs.upd - begun.runs.upd).toBe(0);
      expect(retried.shards.upd - begun.shards.upd).toBe(1);
      expect(retried.shards.hot - begun.shards.hot).toBe(1);
      // A completion changes no indexed column either (migration 0011).
      await store.completeShardWithResults(run.id, 0, 1, { passed: 1, failed: 0, skipped: 0 }, []);
      const completed = await counts();
      expect(completed.shards.upd - retried.shards.upd).toBe(1);
      expect(completed.shards.hot - retried.shards.hot).toBe(1);
    } finally {
      await db.destroy();
      await hot.close();
    }
  });

  it('upgrades a database migrated before the callback outbox: old runs keep their data, new terminal writes queue callbacks', async () => {
    const old = await postgres('runstore_upgrade');
    const db = openPostgres(old.url, { max: 2 });
    try {
      // The schema as the first release left it: only 0001 applied and recorded.
      await sql`create table x_run_store_migrations (
        name text primary key, applied_at timestamptz(3) not null default now())`.execute(db);
      const first = MIGRATIONS[0];
      if (!first) throw new Error('no migrations');
      await first.up(db);
      await db.insertInto('x_run_store_migrations').values({ name: first.name }).execute();
      await sql`insert into workspaces (id) values ('ws')`.execute(db);
      const { rows } = await sql<{ id: string }>`
        insert into runs (workspace_id, executor, shard_count, total, status, callback_url)
        values ('ws', 'demo', 1, 0, 'completed', 'https://ci.example/cb') returning id`.execute(db);
      await Promise.all([migrate(db), migrate(db)]);
      const store = createRunStore(db);
      const legacy = rows[0]?.id ?? '';
      // Its callback went out under the old code: nothing is queued for it.
      expect(await store.getCallback(legacy)).toMatchObject({ state: null, attempts: 0 });
      // It was enqueued by the old code too: 0003 leaves nothing of the past in the outbox.
      const marked = await db
        .selectFrom('runs')
        .select('enqueued_at')
        .where('id', '=', legacy)
        .executeTakeFirst();
      expect(marked?.enqueued_at).toBeInstanceOf(Date);
      const run = await store.createRun({ ...runInput(1), callbackUrl: 'https://ci.example/cb' });
      await store.transition(run.id, ['queued'], 'aborted');
      expect((await store.getCallback(run.id))?.state).toBe('pending');
    } finally {
      await db.destroy();
      await old.close();
    }
  });

  it('upgrading to 0008 mid-flood keeps the cap: live runs released by the older dispatcher still count', async () => {
    const old = await postgres('runstore_upgrade_dispatch');
    const db = openPostgres(old.url, { max: 2 });
    try {
      // The schema as 0007 left it, and a run the older dispatcher released two shards of.
      await sql`create table x_run_store_migrations (
        name text primary key, applied_at timestamptz(3) not null default now())`.execute(db);
      const upTo = MIGRATIONS.findIndex((m) => m.name === '0008_dispatch_count');
      for (const m of MIGRATIONS.slice(0, upTo)) {
        await m.up(db);
        await db.insertInto('x_run_store_migrations').values({ name: m.name }).execute();
      }
      const store = createRunStore(db);
      const input = runInput(4, 1);
      const released = await store.createRun(input);
      const waiting = await store.createRun(input);
      await sql`update run_shards set released_at = now()
        where run_id = ${released.id} and shard_index < 2`.execute(db);
      await migrate(db);
      const handed: string[] = [];
      const q = { window: 10, maxRunningShards: 2 };
      await store.dispatchShards(q, async (shards) => {
        handed.push(...shards.map((x) => `${x.runId}:${x.shardIndex}`));
      });
      // Its two released shards fill the cap of 2: nothing more of the workspace goes out.
      expect(
        handed.filter((id) => id.startsWith(waiting.id) || id.startsWith(released.id)),
      ).toEqual([]);
      await store.transition(released.id, ['queued', 'running'], 'aborted');
      await store.dispatchShards(q, async (shards) => {
        handed.push(...shards.map((x) => `${x.runId}:${x.shardIndex}`));
      });
      expect(handed).toEqual([`${waiting.id}:0`, `${waiting.id}:1`]);
    } finally {
      await db.destroy();
      await old.close();
    }
  });

  it('keeps the store’s parameterized statements prepared per connection (and can be told not to)', async () => {
    const setup = openPostgres(database.url, { max: 1 });
    await migrate(setup).finally(() => setup.destroy());
    const count = async (preparedStatements?: number) => {
      const db = openPostgres(database.url, {
        max: 1,
        ...(preparedStatements === undefined ? {} : { preparedStatements }),
      });
      try {
        const store = createRunStore(db);
        const run = await store.createRun(runInput(1));
        for (let i = 0; i < 3; i++) await store.getStatus(run.id);
        // A hot statement: sent to the pool directly (sql/statement.ts), still prepared.
        for (let i = 0; i < 2; i++) await store.beginShard(run.id, 0, 1);
        // pg_prepared_statements is per session; max: 1 means this is the same session.
        const { rows } = await sql<{
          name: string;
        }>`select name from pg_prepared_statements`.execute(db);
        return rows.filter((r) => r.name.startsWith('xrs_')).length;
      } finally {
        await db.destroy();
      }
    };
    expect(await count()).toBe(3); // createRun, getStatus and beginShard, each prepared once
    expect(await count(0)).toBe(0);
  });

  it("prepares a statement again when it went stale on its connection: a column another replica's migration added, DISCARD ALL", async () => {
    await withOwnDatabase('runstore_stale_statements', async (db, admin) => {
      const store = createRunStore(db);
      const run = await store.createRun(runInput(1));
      const calls = {
        getRun: () => store.getRun(run.workspaceId, run.id),
        createRun: () => store.createRun(runInput(1, 2, run.workspaceId)),
        listRuns: () => store.listRuns(run.workspaceId, {}),
        getStatus: () => store.getStatus(run.id),
      };
      for (const call of Object.values(calls)) for (let i = 0; i < 2; i++) await call();
      // What a newer version's migration does during a rolling upgrade: `select *` and
      // `returning *` now answer another row type, which a prepared plan may not change.
      await sql`alter table runs add column from_a_newer_version int`.execute(admin);
      expect((await calls.getRun())?.id).toBe(run.id);
      expect((await calls.createRun()).status).toBe('queued');
      expect((await calls.listRuns()).runs.length).toBe(4);
      expect(await calls.getStatus()).toBe('queued');
      // The server forgets every prepared statement of the connection (max: 1: the same one).
      await sql`discard all`.execute(db);
      for (const call of Object.values(calls)) await call();
      expect((await calls.listRuns()).runs.length).toBe(5);
    });
  });

  it('inside a transaction a stale statement fails that transaction once; the next one prepares it again', async () => {
    await withOwnDatabase('runstore_stale_in_transaction', async (db, admin) => {
      const run = await createRunStore(db).createRun(runInput(1));
      const readInTransaction = () =>
        db
          .transaction()
          .execute((trx) =>
            trx.selectFrom('runs').selectAll().where('id', '=', run.id).executeTakeFirst(),
          );
      for (let i = 0; i < 2; i++) expect((await readInTransaction())?.id).toBe(run.id);
      await sql`alter table runs add column from_a_newer_version int`.execute(admin);
      // Sent again inside the aborted transaction it could only fail again: the error stands.
      await expect(readInTransaction()).rejects.toThrow(/cached plan must not change result type/);
      expect((await readInTransaction())?.id).toBe(run.id);
    });
  });

  it('maps an unreachable server to RunStoreError unavailable', async () => {
    const port = await freePort();
    const db = openPostgres(`postgres://nobody@127.0.0.1:${port}/none`, {
      connectionTimeoutMs: 2_000,
    });
    try {
      const err = await createRunStore(db)
        .getRunById('8c3f2b8e-0d5c-4d0e-9a53-1b0f1f8b6a11')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunStoreError);
      expect((err as RunStoreError).code).toBe('unavailable');
      expect((err as RunStoreError).cause).toBeDefined();
      const ping = await createRunStore(db)
        .ping()
        .catch((e: unknown) => e);
      expect(ping).toBeInstanceOf(RunStoreError);
      expect((ping as RunStoreError).code).toBe('unavailable');
      // A hot statement, sent to the pool directly, maps the same way.
      const begin = await createRunStore(db)
        .beginShard('8c3f2b8e-0d5c-4d0e-9a53-1b0f1f8b6a11', 0, 1)
        .catch((e: unknown) => e);
      expect((begin as RunStoreError).code).toBe('unavailable');
      const mig = await migrate(db).catch((e: unknown) => e);
      expect((mig as RunStoreError).code).toBe('unavailable');
    } finally {
      await db.destroy();
    }
  });
});

/**
 * A migrated database of the test's own, used through one connection (`max: 1`: a statement
 * prepared once stays on it), and an admin pool that prepares nothing, for the schema change.
 */
async function withOwnDatabase(
  name: string,
  fn: (db: Kysely<Database>, admin: Kysely<Database>) => Promise<void>,
): Promise<void> {
  const own = await postgres(name);
  const db = openPostgres(own.url, { max: 1 });
  const admin = openPostgres(own.url, { max: 1, preparedStatements: 0 });
  try {
    await migrate(db);
    await fn(db, admin);
  } finally {
    await admin.destroy();
    await db.destroy();
    await own.close();
  }
}
