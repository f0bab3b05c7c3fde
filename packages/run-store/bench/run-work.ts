// pnpm --filter @x/run-store bench:run-work
// The server's work for one run, ours against the hand-written reference of issue 18 §1, one
// run after another so no lock wait or batch blurs it: a 4-shard run's statements (ours:
// createRun, four beginShard, four completeShardWithResults, the last finalizing the run
// (since 0015; finalizeRun before); the reference: the run row, per shard its results and its
// completion, the final status), read back from
// pg_stat_statements as execution ms, shared buffers and WAL bytes per run. Buffers and WAL
// are counts, so they hold on a noisy machine where the milliseconds do not. At 1 test per
// shard (the shard-worker bench's shape) and 25 (`pnpm bench:system`'s). Needs the
// pg_stat_statements library preloaded: run without DATABASE_URL so the testkit starts its own
// server with it, as every bench here does.
import { postgres } from '@x/testkit';
import pg from 'pg';
import { createRunStore, migrate, openPostgres } from '../src/index.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 500);
if (!Number.isInteger(RUNS) || RUNS < 1) {
  throw new Error(`BENCH_RUNS must be a positive integer, got ${process.env.BENCH_RUNS}`);
}
const WARMUP = 200;
const SHARDS = [0, 1, 2, 3];
const testIds = (shard: number, tests: number) =>
  Array.from({ length: tests }, (_, i) => `s${shard}t${i}`);

interface Work {
  ms: number;
  buffers: number;
  wal: number;
  statements: number;
  /** Each statement's share, a line each: calls, ms, buffers and WAL a run, its text's start. */
  lines: string[];
}

/** pg_stat_statements since its reset, per run. */
async function workPerRun(pool: pg.Pool): Promise<Work> {
  const { rows } = await pool.query<{
    calls: string;
    ms: number;
    buf: string;
    wal: string;
    text: string;
  }>(
    `select calls, total_exec_time as ms, shared_blks_hit + shared_blks_read as buf,
            wal_bytes as wal, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) as text
     from pg_stat_statements
     where query not like '%pg_stat_statements%' and dbid = (select oid from pg_database
                                                            where datname = current_database())`,
  );
  const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((n, r) => n + f(r), 0);
  const per = (n: number, digits: number) => Number((n / RUNS).toFixed(digits));
  const lines = [...rows]
    .sort((a, b) => b.ms - a.ms)
    .map(
      (r) =>
        `  ${per(Number(r.calls), 2)} calls, ${per(r.ms, 3)} ms, ${per(Number(r.buf), 1)} buffers, ${per(Number(r.wal), 0)} WAL bytes: ${r.text}`,
    );
  return {
    lines,
    ms: per(
      sum((r) => r.ms),
      3,
    ),
    buffers: per(
      sum((r) => Number(r.buf)),
      1,
    ),
    wal: per(
      sum((r) => Number(r.wal)),
      0,
    ),
    statements: per(
      sum((r) => Number(r.calls)),
      2,
    ),
  };
}

async function measure(url: string, one: () => Promise<void>): Promise<Work> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await pool.query('create extension if not exists pg_stat_statements');
    for (let i = 0; i < WARMUP; i++) await one();
    await pool.query('select pg_stat_statements_reset()').catch((err: Error) => {
      throw new Error(
        `pg_stat_statements is not preloaded (run without DATABASE_URL): ${err.message}`,
      );
    });
    for (let i = 0; i < RUNS; i++) await one();
    return await workPerRun(pool);
  } finally {
    await pool.end();
  }
}

async function ours(tests: number): Promise<Work> {
  const database = await postgres('run_work_ours');
  const db = openPostgres(database.url, { max: 2 });
  try {
    await migrate(db);
    const store = createRunStore(db);
    const stats = { passed: tests, failed: 0, skipped: 0 };
    return await measure(database.url, async () => {
      const run = await store.createRun({
        workspaceId: 'bench',
        executor: 'demo',
        shards: SHARDS.map((s) => ({ testIds: testIds(s, tests) })),
      });
      for (const s of SHARDS) await store.beginShard(run.id, s, 1);
      for (const s of SHARDS) {
        const results = testIds(s, tests).map((testId) => ({
          testId,
          name: testId,
          status: 'passed' as const,
          durationMs: 0,
          error: null,
          attempt: 1,
        }));
        // As @x/shard-worker completes a shard: the last one finalizes the run itself.
        const done = await store.completeShardWithResults(run.id, s, 1, stats, results, {
          finalize: true,
        });
        if (done.isFinalizer && !done.finalized) await store.finalizeRun(run.id);
      }
    });
  } finally {
    await db.destroy();
    await database.close();
  }
}

// The shard-worker bench's durable reference (bench/durable-reference.ts there), its tables
// and statements, each prepared.
const SCHEMA = `
  create table ref_runs (
    id uuid primary key, status text not null, shard_count int not null,
    shards_completed int not null default 0, total int not null,
    passed int not null default 0, failed int not null default 0,
    created_at timestamptz not null default now(), finished_at timestamptz);
  create table ref_shards (
    run_id uuid not null references ref_runs(id), shard_index int not null,
    primary key (run_id, shard_index));
  create table ref_results (
    run_id uuid not null, shard_index int not null, test_id text not null, name text not null,
    status text not null, duration_ms int not null, primary key (run_id, test_id));`;

async function reference(tests: number): Promise<Work> {
  const database = await postgres('run_work_reference');
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  try {
    await pool.query(SCHEMA);
    return await measure(database.url, async () => {
      const runId = crypto.randomUUID();
      await pool.query({
        name: 'run',
        text: `insert into ref_runs (id, status, shard_count, total) values ($1, 'running', $2, $3)`,
        values: [runId, SHARDS.length, SHARDS.length * tests],
      });
      for (const s of SHARDS) {
        const ids = testIds(s, tests);
        await pool.query({
          name: 'results',
          text: `insert into ref_results (run_id, shard_index, test_id, name, status, duration_ms)
                 select $1, $2, t.id, t.name, 'passed', 0
                 from unnest($3::text[], $4::text[]) as t(id, name) on conflict do nothing`,
          values: [runId, s, ids, ids],
        });
        await pool.query({
          name: 'complete',
          text: `with done as (
                   insert into ref_shards (run_id, shard_index) values ($1, $2)
                   on conflict do nothing returning run_id)
                 update ref_runs set shards_completed = shards_completed + 1,
                   passed = passed + $3, failed = failed + $4
                 from done where ref_runs.id = done.run_id`,
          values: [runId, s, tests, 0],
        });
      }
      await pool.query({
        name: 'final',
        text: `update ref_runs set status = 'completed', finished_at = now()
               where id = $1 and status = 'running'`,
        values: [runId],
      });
    });
  } finally {
    await pool.end();
    await database.close();
  }
}

const out: Record<string, number> = { runs: RUNS };
for (const tests of [1, 25]) {
  const [a, b] = [await ours(tests), await reference(tests)];
  const ratio = (x: number, y: number) => Number((x / y).toFixed(2));
  console.log(
    `${tests} test(s) a shard, per run: ours ${a.ms} ms, ${a.buffers} buffers, ${a.wal} WAL bytes, ${a.statements} statements; hand-written ${b.ms} ms, ${b.buffers} buffers, ${b.wal} WAL bytes, ${b.statements} statements; ours / hand-written: ms ${ratio(a.ms, b.ms)}, buffers ${ratio(a.buffers, b.buffers)}, WAL ${ratio(a.wal, b.wal)}`,
  );
  console.log(`ours:\n${a.lines.join('\n')}\nhand-written:\n${b.lines.join('\n')}`);
  Object.assign(out, {
    [`t${tests}_ms`]: a.ms,
    [`t${tests}_buffers`]: a.buffers,
    [`t${tests}_wal`]: a.wal,
    [`t${tests}_ref_ms`]: b.ms,
    [`t${tests}_ref_buffers`]: b.buffers,
    [`t${tests}_ref_wal`]: b.wal,
    [`t${tests}_wal_ratio`]: ratio(a.wal, b.wal),
  });
}
console.log(JSON.stringify({ bench: 'run-store run work', ...out }));
