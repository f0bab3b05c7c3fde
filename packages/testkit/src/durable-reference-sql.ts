/**
 * The statements of issue 18's hand-written durable reference: the same durable outcome as
 * ours, the way a competent engineer would write it with `pg` beside BullMQ Flows. Shared by
 * @x/shard-worker's bench and `pnpm bench:system`, so both measure the same reference.
 * Per run: `INSERT_RUN` before its Flow; per shard, `INSERT_RESULTS` (one multi-row insert),
 * then `COMPLETE` (records the shard and bumps the run's counters only when that was new, in
 * one statement); `FINISH` once, by the Flow's parent. 10 statements a 4-shard run.
 */
export const DURABLE_REFERENCE_SQL = {
  SCHEMA: `
  create table if not exists ref_runs (
    id uuid primary key, status text not null, shard_count int not null,
    shards_completed int not null default 0, total int not null,
    passed int not null default 0, failed int not null default 0,
    created_at timestamptz not null default now(), finished_at timestamptz);
  create table if not exists ref_shards (
    run_id uuid not null references ref_runs(id), shard_index int not null,
    primary key (run_id, shard_index));
  create table if not exists ref_results (
    run_id uuid not null, shard_index int not null, test_id text not null, name text not null,
    status text not null, duration_ms int not null, primary key (run_id, test_id));`,
  /** $1 run id, $2 shard count, $3 total tests. */
  INSERT_RUN: `insert into ref_runs (id, status, shard_count, total) values ($1, 'running', $2, $3)`,
  /** $1 run id, $2 shard index, $3 test ids, $4 test names: every test passed in 0 ms. */
  INSERT_RESULTS: `
  insert into ref_results (run_id, shard_index, test_id, name, status, duration_ms)
  select $1, $2, t.id, t.name, 'passed', 0
  from unnest($3::text[], $4::text[]) as t(id, name) on conflict do nothing`,
  /** $1 run id, $2 shard index, $3 passed, $4 failed. */
  COMPLETE: `
  with done as (
    insert into ref_shards (run_id, shard_index) values ($1, $2)
    on conflict do nothing returning run_id)
  update ref_runs set shards_completed = shards_completed + 1,
    passed = passed + $3, failed = failed + $4
  from done where ref_runs.id = done.run_id`,
  /** $1 run id. */
  FINISH: `update ref_runs set status = 'completed', finished_at = now()
  where id = $1 and status = 'running'`,
} as const;
