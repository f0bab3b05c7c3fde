import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from './schema.js';

/** One schema step. Steps run in array order, each once, inside the migration transaction. */
export interface Migration {
  readonly name: string;
  readonly up: (db: Kysely<Database>) => Promise<void>;
}

function exec(statements: readonly RawBuilder<unknown>[]) {
  return async (db: Kysely<Database>) => {
    for (const s of statements) await s.execute(db);
  };
}

// Timestamps are timestamptz(3): millisecond precision round-trips exactly through a JS
// Date, which keeps the (created_at, id) pagination cursor exact.
export const MIGRATIONS: readonly Migration[] = [
  {
    name: '0001_runs',
    up: exec([
      sql`create table workspaces (
        id text primary key check (length(id) between 1 and 200),
        created_at timestamptz(3) not null default now()
      )`,
      sql`create table runs (
        id uuid primary key default gen_random_uuid(),
        workspace_id text not null references workspaces(id),
        status text not null default 'queued'
          check (status in ('queued', 'running', 'completed', 'failed', 'aborted')),
        executor text not null check (length(executor) between 1 and 100),
        name text,
        shard_count integer not null check (shard_count >= 1),
        shards_completed integer not null default 0
          check (shards_completed >= 0 and shards_completed <= shard_count),
        total integer not null check (total >= 0),
        passed integer not null default 0 check (passed >= 0),
        failed integer not null default 0 check (failed >= 0),
        retry_count integer not null default 0 check (retry_count >= 0),
        failed_after_retry integer not null default 0 check (failed_after_retry >= 0),
        callback_url text,
        error text,
        created_at timestamptz(3) not null default now(),
        started_at timestamptz(3),
        finished_at timestamptz(3),
        duration_ms integer check (duration_ms >= 0)
      )`,
      sql`create index runs_workspace_created on runs (workspace_id, created_at desc, id desc)`,
      sql`create index runs_workspace_status_created
        on runs (workspace_id, status, created_at desc, id desc)`,
      // failInterruptedRuns and operators look for live runs across workspaces.
      sql`create index runs_live on runs (status) where status in ('queued', 'running')`,
      sql`create table run_shards (
        run_id uuid not null references runs(id) on delete cascade,
        shard_index integer not null check (shard_index >= 0),
        status text not null default 'pending' check (status in ('pending', 'running', 'completed')),
        attempt integer not null default 0 check (attempt >= 0),
        test_ids text[] not null,
        passed integer not null default 0 check (passed >= 0),
        failed integer not null default 0 check (failed >= 0),
        skipped integer not null default 0 check (skipped >= 0),
        completed_at timestamptz(3),
        primary key (run_id, shard_index)
      )`,
      sql`create table run_results (
        seq bigint generated always as identity,
        run_id uuid not null,
        shard_index integer not null,
        test_id text not null,
        name text not null,
        status text not null check (status in ('passed', 'failed', 'skipped')),
        duration_ms integer not null check (duration_ms >= 0),
        error text,
        attempt integer not null check (attempt >= 0),
        primary key (run_id, shard_index, seq),
        unique (run_id, test_id, attempt),
        foreign key (run_id, shard_index) references run_shards (run_id, shard_index) on delete cascade
      )`,
    ]),
  },
  {
    // The callback outbox: the terminal write marks the callback `pending` in the same
    // statement, so a sender that dies before (or while) posting leaves a row a sweep finds.
    // `if not exists` keeps the step safe to re-run by hand on a partly migrated database.
    name: '0002_callback_outbox',
    up: exec([
      sql`alter table runs
        add column if not exists callback_state text
          check (callback_state in ('pending', 'sending', 'sent', 'failed')),
        add column if not exists callback_attempts integer not null default 0
          check (callback_attempts >= 0),
        add column if not exists callback_due_at timestamptz(3),
        add column if not exists callback_claimed_at timestamptz(3),
        add column if not exists callback_sent_at timestamptz(3),
        add column if not exists callback_error text`,
      // The sweep's scan: only undelivered callbacks, a handful at any time.
      sql`create index if not exists runs_callback_outbox on runs (callback_due_at)
        where callback_state in ('pending', 'sending')`,
    ]),
  },
  {
    // The enqueue outbox: a run and its shards (with each shard's job input) are written here
    // first; an enqueuer pushes them to the queue and sets `enqueued_at`, so a queue outage
    // delays runs instead of failing them, and a repair sweep can enqueue again what the
    // queue lost. Runs from before this step were enqueued (or failed) by the old path.
    name: '0003_enqueue_outbox',
    up: exec([
      sql`alter table runs
        add column if not exists enqueued_at timestamptz(3),
        add column if not exists enqueue_claimed_at timestamptz(3)`,
      sql`update runs set enqueued_at = created_at where enqueued_at is null`,
      sql`alter table run_shards add column if not exists payload jsonb`,
      // The enqueuer's scan: only runs not yet handed to the queue, a handful at any time.
      sql`create index if not exists runs_enqueue_outbox on runs (created_at)
        where status = 'queued' and enqueued_at is null`,
      // Named leases: one active instance of a fleet-wide sweep (the shard repair).
      sql`create table if not exists leases (
        name text primary key check (length(name) between 1 and 200),
        holder text not null check (length(holder) between 1 and 200),
        expires_at timestamptz(3) not null
      )`,
    ]),
  },
  {
    // `Idempotency-Key` of `POST /runs`, per workspace: the key row and its run are written by
    // one statement (createRunOnce), so a key never names a run that does not exist, and a
    // run deleted by retention takes its key with it.
    name: '0004_idempotency_keys',
    up: exec([
      sql`create table if not exists idempotency_keys (
        workspace_id text not null,
        key text not null check (length(key) between 1 and 255),
        request_hash text not null check (length(request_hash) between 1 and 200),
        run_id uuid not null references runs(id) on delete cascade,
        created_at timestamptz(3) not null default now(),
        primary key (workspace_id, key)
      )`,
      // The cleanup's scan (deleteIdempotencyKeys), and the cascade from runs.
      sql`create index if not exists idempotency_keys_created on idempotency_keys (created_at)`,
      sql`create index if not exists idempotency_keys_run on idempotency_keys (run_id)`,
    ]),
  },
  {
    // Retention: the sweep (deleteFinishedRuns) looks for the oldest finished runs. Every
    // terminal write stamps `finished_at`; live runs stay out of the index.
    name: '0005_retention',
    up: exec([
      sql`create index if not exists runs_finished on runs (finished_at, id)
        where status in ('completed', 'failed', 'aborted')`,
    ]),
  },
  {
    // Tags and metadata of a run (issue 20). The GIN index answers `tags @> array[…]` (every
    // tag must match) without a scan; the workspace and time filters ride the existing
    // (workspace_id, created_at, id) indexes. Existing runs get no tags and `{}`.
    name: '0006_run_tags',
    up: exec([
      sql`alter table runs
        add column if not exists tags text[] not null default '{}'
          check (cardinality(tags) <= 10),
        add column if not exists metadata jsonb not null default '{}'::jsonb
          check (jsonb_typeof(metadata) = 'object')`,
      sql`create index if not exists runs_tags on runs using gin (tags)`,
    ]),
  },
  {
    // Fair dispatch (issue 19): shards are released to the queue one by one, per workspace
    // share, instead of a whole run at once. `released_at` marks a shard handed to the queue;
    // a run's `enqueued_at` is set when its last shard is. Runs and shards from before this
    // step were enqueued whole (their `enqueued_at` says so) and are never dispatched again.
    name: '0007_fair_dispatch',
    up: exec([
      sql`alter table run_shards add column if not exists released_at timestamptz(3)`,
      // The dispatcher's count of each workspace's shards in the queue or running: few rows.
      sql`create index if not exists run_shards_released_live on run_shards (run_id)
        where released_at is not null and status <> 'completed'`,
      // The dispatcher's scan: per workspace, the oldest live runs with shards to release.
      sql`create index if not exists runs_dispatch on runs (workspace_id, created_at, id)
        where enqueued_at is null and status in ('queued', 'running')`,
    ]),
  },
  {
    // The dispatcher's share count, from the runs side (issue 19). Counting released live
    // shards through `run_shards_released_live` visited every dead entry of a completed shard
    // (three index entries a shard: released, running, completed), and with statistics from a
    // smaller table the planner read all of `run_shards` instead. `runs.released_at` (when
    // fair dispatch first released a shard of the run) narrows the count to the few live runs
    // with released shards, read by this small index; their shards come by primary key.
    // Backfill: live runs that already have released shards (an upgrade mid-flood).
    name: '0008_dispatch_count',
    up: exec([
      sql`alter table runs add column if not exists released_at timestamptz(3)`,
      sql`update runs r set released_at = now()
        where r.status in ('queued', 'running') and r.released_at is null
          and exists (select 1 from run_shards s
                      where s.run_id = r.id and s.released_at is not null)`,
      sql`create index if not exists runs_released_live on runs (workspace_id)
        where released_at is not null and status in ('queued', 'running')`,
    ]),
  },
  {
    // HOT shard updates (issue 18). A column in an index's predicate counts as indexed, so
    // `run_shards_released_live`'s `status <> 'completed'` made every shard update that
    // touches `status` (a begin's pending -> running among them) write a new entry into the
    // primary key and that index, even when the row is in neither index's predicate. The same set of rows keyed on `completed_at` (set exactly when
    // `status` becomes completed, by the completion alone) leaves a begin's update free to
    // be heap-only, and `fillfactor = 80` keeps room on each page for those versions.
    // fillfactor applies to pages written from now on; rows already on full pages update as
    // before.
    name: '0009_hot_shard_updates',
    up: exec([
      sql`create index if not exists run_shards_released_open on run_shards (run_id)
        where released_at is not null and completed_at is null`,
      sql`drop index if exists run_shards_released_live`,
      sql`alter table run_shards set (fillfactor = 80)`,
    ]),
  },
  {
    // Live runs by their own predicate, not `status`'s (issue 18). `runs_live` was keyed on
    // `status` where `status in ('queued', 'running')`, so every statement that reads a run by
    // id with that same test (a begin, a completion, a finalize) could use it, and did when
    // the statistics were older than the runs: after a burst of new runs the planner, still
    // seeing almost no live row, scanned the whole index (every live run, and each earlier
    // version's dead entry) instead of probing the primary key — measured with 5,000 runs
    // created after the last analyze: a completion 2.0–3.4 ms, a batch of begins 7–12 ms,
    // against ~0.1–0.3 by primary key. Live runs are exactly the unfinished ones (every
    // terminal write stamps `finished_at`), so the index of live runs is keyed on that
    // instead: the scans that want live runs (the repair sweep, failInterruptedRuns) say
    // `finished_at is null`, and a lookup by id can no longer be planned through it.
    name: '0010_unfinished_runs',
    up: exec([
      sql`create index if not exists runs_unfinished on runs (status) where finished_at is null`,
      sql`drop index if exists runs_live`,
    ]),
  },
  {
    // HOT shard completions (issue 18). `run_shards_released_open`'s `completed_at is null`
    // made the completion's update (status, stats, `completed_at`) write a new primary-key
    // entry for every shard, though FIFO shards are in neither index's predicate. Keyed on
    // `released_at` alone, no index covers a column the completion or a begin changes, so both
    // are heap-only when the page has room (measured: 3,946 of 3,958 completions, none
    // before). The index now keeps a released shard after its completion: every reader goes
    // by one run's id (at most its shard count of entries, `completed_at` tested on the row);
    // none scans it across runs (0008 says why that was slow).
    name: '0011_hot_shard_completions',
    up: exec([
      sql`create index if not exists run_shards_released on run_shards (run_id)
        where released_at is not null`,
      sql`drop index if exists run_shards_released_open`,
    ]),
  },
  {
    // A run's rows checked by how they are written, not by a key per row (issue 18). createRun
    // inserts the run, upserts its workspace and inserts its shards in one statement; a result
    // is inserted only by the completion, from the shard row it flips in the same statement.
    // Nothing else inserts them, so the keys from `run_results` to `run_shards`, `run_shards`
    // to `runs` and `runs` to `workspaces` only repeated, one lookup per row (a row trigger),
    // what the statement already holds: 0.2–0.38 ms of a 25-result completion's 0.55–0.94,
    // and 23 of createRun's 49 buffers (measured, one run after another). The cascade the keys
    // gave a deleted run is one statement-level trigger's: it deletes the results and the
    // shards of every run a statement deleted (retention, or an operator's delete by hand).
    // Keys a client's input can break stay (idempotency keys).
    name: '0012_run_rows_by_construction',
    up: exec([
      sql`create or replace function x_delete_rows_of_deleted_runs() returns trigger
        language plpgsql set search_path from current as $$
        begin
          delete from run_results r using gone g where r.run_id = g.id;
          delete from run_shards s using gone g where s.run_id = g.id;
          return null;
        end $$`,
      sql`create trigger runs_delete_rows after delete on runs
        referencing old table as gone
        for each statement execute function x_delete_rows_of_deleted_runs()`,
      sql`alter table run_results drop constraint if exists run_results_run_id_shard_index_fkey`,
      sql`alter table run_shards drop constraint if exists run_shards_run_id_fkey`,
      sql`alter table runs drop constraint if exists runs_workspace_id_fkey`,
    ]),
  },
  {
    // One index per result row (issue 18). The unique key on (run, test, attempt) kept a
    // result from being stored twice, which the writes already rule out: a completion inserts
    // its shard's results once, from the shard row it flips; a call repeating a test is
    // refused (validateResults); createRun refuses a test id in two shards, and the worker
    // refuses an executor's result for a test of another shard. The key was a second B-tree
    // entry per result, with a text column: 31 % of the results' WAL (measured, 25 results
    // a call: 9.6 KB with it, 6.7 KB without). The primary key (run, shard, seq) stays: pages
    // read by it, and deletes go by run.
    name: '0013_results_primary_key_only',
    up: exec([
      sql`alter table run_results drop constraint if exists run_results_run_id_test_id_attempt_key`,
    ]),
  },
  {
    // The tags index holds tagged runs only (issue 18). A GIN index gives every row an entry,
    // an untagged one too (its "empty" item), and so does every new version of the row: a
    // run's insert and each update that is not heap-only (enqueued, running, finished) wrote
    // one into the index's pending list, for runs that no tag filter can ever return.
    // Measured over 3,000 run lifecycles on `runs` (insert, enqueue, begin, 4 completions,
    // finish): 3,650 B of WAL a run with it, 2,975 without it or with this one (-18 %), and
    // 2-9 % less backend CPU. listRunsSql says `tags <> '{}'` beside `tags @> …` so the planner
    // can prove the predicate (batch-plan.postgres.test.ts checks the plan).
    name: '0014_tags_index_tagged_runs_only',
    up: exec([
      sql`create index if not exists runs_tagged on runs using gin (tags) where tags <> '{}'`,
      sql`drop index if exists runs_tags`,
    ]),
  },
  {
    // The retry counts as running sums, so the last shard's completion can finalize the run
    // in its own statement (issue 18): each completion adds its shard's retries and failures
    // after a retry, and counts itself. A completion by an older version adds nothing, so a
    // run any of whose completions it made never has all of them counted: its finalizer then
    // sums the shard rows in a statement of its own, as before. Not indexed: the updates stay
    // heap-only where they were. New columns with a constant default: no table rewrite.
    name: '0015_completion_running_sums',
    up: exec([
      sql`alter table runs
        add column if not exists completion_retries int not null default 0,
        add column if not exists completion_failed_after_retry int not null default 0,
        add column if not exists completions_counted int not null default 0`,
    ]),
  },
];
