import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';

export interface EnqueueClaimRow {
  id: string;
  workspace_id: string;
  executor: string;
  callback_url: string | null;
  shard_count: number;
  /** `[{i: shard index, p: payload}]` in shard order. */
  shards: { i: number; p: unknown }[];
}

/**
 * Claims up to `limit` runs for enqueueing: `queued`, not yet enqueued, and either never
 * claimed or claimed longer than `leaseMs` ago (that enqueuer died between its claim and its
 * mark). `skip locked` lets every replica run an enqueuer without waiting on, or
 * double-claiming, the same rows; the lease (not a held transaction) spans the queue call,
 * so an abort never waits on a slow queue. Output: the runs with their shards' payloads, but
 * for shards fair dispatch released already (a fleet switched from fair to fifo).
 */
export async function claimEnqueuesSql(
  db: Kysely<Database>,
  q: { limit: number; leaseMs: number },
): Promise<EnqueueClaimRow[]> {
  const { rows } = await sql<EnqueueClaimRow>`
    with due as (
      select id from runs
      where status = 'queued' and enqueued_at is null
        and (enqueue_claimed_at is null
             or enqueue_claimed_at <= now() - ${q.leaseMs}::int * interval '1 millisecond')
      order by created_at
      limit ${q.limit}
      for update skip locked
    )
    update runs r set enqueue_claimed_at = now()
    from due
    where r.id = due.id
    returning r.id, r.workspace_id, r.executor, r.callback_url, r.shard_count,
      (select coalesce(jsonb_agg(jsonb_build_object('i', s.shard_index, 'p', s.payload)
                                 order by s.shard_index), '[]'::jsonb)
       from run_shards s where s.run_id = r.id and s.released_at is null) as shards`.execute(db);
  return rows;
}

/** Every claimed run is enqueued: out of the outbox for good. */
export async function markEnqueuedSql(db: Kysely<Database>, runIds: string[]): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    update runs set enqueued_at = now(), enqueue_claimed_at = null
    where id = any(${runIds}::uuid[]) and enqueued_at is null
    returning id`.execute(db);
  return rows.length;
}

/** The queue refused: free the claims so the next pass (when the queue is back) retries at once. */
export async function releaseEnqueuesSql(db: Kysely<Database>, runIds: string[]): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    update runs set enqueue_claimed_at = null
    where id = any(${runIds}::uuid[]) and enqueued_at is null and enqueue_claimed_at is not null
    returning id`.execute(db);
  return rows.length;
}

export interface LiveShardRow {
  run_id: string;
  workspace_id: string;
  executor: string;
  callback_url: string | null;
  shard_count: number;
  shard_index: number;
  payload: unknown;
}

/**
 * A page of the shards the queue must hold: not completed, of a live run that was enqueued
 * whole, or released one by one by fair dispatch (a shard still in the outbox is the
 * enqueuer's or the dispatcher's). Keyset over (run id, shard index); the
 * `runs_unfinished` partial index finds the live runs (`finished_at is null`: every terminal
 * write stamps it).
 */
export async function liveShardsSql(
  db: Kysely<Database>,
  q: { limit: number; after: { runId: string; shardIndex: number } | undefined },
): Promise<LiveShardRow[]> {
  const after = q.after
    ? sql`and (s.run_id, s.shard_index) > (${q.after.runId}::uuid, ${q.after.shardIndex}::int)`
    : sql``;
  const { rows } = await sql<LiveShardRow>`
    select s.run_id, r.workspace_id, r.executor, r.callback_url, r.shard_count, s.shard_index,
           s.payload
    from runs r join run_shards s on s.run_id = r.id
    where r.finished_at is null and r.status in ('queued', 'running')
      and (r.enqueued_at is not null or s.released_at is not null)
      and s.status <> 'completed' ${after}
    order by s.run_id, s.shard_index
    limit ${q.limit}`.execute(db);
  return rows;
}

/**
 * Takes the lease when it is free or expired, renews it when `holder` has it; one statement,
 * so two instances racing for an expired lease cannot both win (the conflict's update re-checks
 * the row it locked). Output: whether `holder` holds it now.
 */
export async function tryLeaseSql(
  db: Kysely<Database>,
  name: string,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const { rows } = await sql<{ holder: string }>`
    insert into leases (name, holder, expires_at)
    values (${name}, ${holder}, now() + ${ttlMs}::int * interval '1 millisecond')
    on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
    where leases.holder = excluded.holder or leases.expires_at <= now()
    returning holder`.execute(db);
  return rows.length > 0;
}

/** Ends `holder`'s lease now; another holder's is left alone. */
export async function releaseLeaseSql(
  db: Kysely<Database>,
  name: string,
  holder: string,
): Promise<boolean> {
  const { rows } = await sql<{ name: string }>`
    delete from leases where name = ${name} and holder = ${holder} returning name`.execute(db);
  return rows.length > 0;
}
