// Retention against the hot path: 20,000 finished runs (2 shards, 4 results each) past the
// retention, deleted while a probe reads a live run in a loop (what an api request or a shard
// start does). Reference: the one-statement delete an operator would write (`delete from runs
// where finished_at < cutoff`, cascading); ours: the retention sweeper (batches of 500, 100 ms
// apart), on PostgreSQL (pg pool). (A PGlite leg was tried: seeding 20,000 runs took over 10
// minutes on the shared machine, so it is not part of this bench.) Printed: the probe's p50/p99/max during each deletion,
// and how long each deletion took. The last line is the JSON summary.

import { createRunStore, type Database, migrate, openPostgres, type RunStore } from '@x/run-store';
import { postgres } from '@x/testkit';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { createRetentionSweeper } from '../src/index.js';

const RUNS = 20_000;

async function seed(db: Kysely<Database>): Promise<string> {
  await sql`insert into workspaces (id) values ('bench') on conflict do nothing`.execute(db);
  await sql`
    insert into runs (workspace_id, executor, shard_count, shards_completed, total, passed,
                      status, created_at, started_at, finished_at, duration_ms)
    select 'bench', 'demo', 2, 2, 4, 4, 'completed', now() - interval '41 days',
           now() - interval '41 days', now() - interval '40 days' + g * interval '1 ms', 1000
    from generate_series(1, ${RUNS}) g`.execute(db);
  await sql`
    insert into run_shards (run_id, shard_index, status, attempt, test_ids, passed)
    select r.id, s, 'completed', 1, array['a' || s, 'b' || s], 2
    from runs r, generate_series(0, 1) s where r.status = 'completed'`.execute(db);
  await sql`
    insert into run_results (run_id, shard_index, test_id, name, status, duration_ms, attempt)
    select s.run_id, s.shard_index, t, t, 'passed', 1, 1
    from run_shards s, unnest(s.test_ids) t`.execute(db);
  const store = createRunStore(db);
  const live = await store.createRun({
    workspaceId: 'bench',
    executor: 'demo',
    shards: [{ testIds: ['x'] }],
  });
  return live.id;
}

/** Reads the live run in a loop until `work` settles; answers the latencies (ms) and its time. */
async function probed(store: RunStore, liveId: string, work: () => Promise<unknown>) {
  const lat: number[] = [];
  let done = false;
  const probe = (async () => {
    while (!done) {
      const t = performance.now();
      await store.getRunById(liveId);
      lat.push(performance.now() - t);
    }
  })();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  done = true;
  await probe;
  lat.sort((a, b) => a - b);
  const q = (p: number) =>
    Number((lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0).toFixed(2));
  return { deleteMs: Math.round(ms), probes: lat.length, p50: q(0.5), p99: q(0.99), max: q(1) };
}

async function side(
  open: () => Promise<{ db: Kysely<Database>; close(): Promise<void> }>,
  which: 'reference' | 'ours',
) {
  const { db, close } = await open();
  try {
    await migrate(db);
    const liveId = await seed(db);
    const store = createRunStore(db);
    const left = async () =>
      Number(
        (await sql<{ n: number }>`select count(*)::int as n from runs`.execute(db)).rows[0]?.n,
      );
    const out =
      which === 'reference'
        ? await probed(store, liveId, () =>
            sql`delete from runs where status in ('completed', 'failed', 'aborted')
                and finished_at < now() - interval '30 days'`.execute(db),
          )
        : await probed(store, liveId, async () => {
            const sweeper = createRetentionSweeper({
              store,
              retentionDays: 30,
              maxBatches: 10_000,
            });
            await sweeper.sweep();
            await sweeper.close();
          });
    if ((await left()) !== 1) throw new Error(`${which}: runs left besides the live one`);
    return out;
  } finally {
    await close();
  }
}

const onPostgres = async () => {
  const database = await postgres('retention_bench');
  const db = openPostgres(database.url, { max: 4 });
  return {
    db,
    async close() {
      await db.destroy();
      await database.close();
    },
  };
};

const results: Record<string, unknown> = { bench: 'retention vs hot path', runs: RUNS };
for (const [name, open] of [['postgres', onPostgres]] as const) {
  const reference = await side(open, 'reference');
  const ours = await side(open, 'ours');
  console.log(`${name} reference (one delete): ${JSON.stringify(reference)}`);
  console.log(`${name} ours (sweeper):         ${JSON.stringify(ours)}`);
  results[name] = {
    reference,
    ours,
    max_probe_ratio: Number((reference.max / Math.max(ours.max, 0.01)).toFixed(1)),
  };
}
console.log(JSON.stringify(results));
