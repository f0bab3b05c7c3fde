// Runs one side of the shard-worker bench alone, for a CPU profile or a quick A/B:
// `PROFILE_SIDE=ours|durable PROFILE_ROUNDS=3 node --cpu-prof --import tsx bench/profile-side.ts`.
// One warm-up round first (not printed), so JIT and connection set-up stay out of the figures.
// Prints seconds and CPU per run of each round; no JSON summary (bench/index.ts is the bench).
import { postgres, startRedis } from '@x/testkit';
import pg from 'pg';
import { durableFlows } from './durable-reference.js';
import { ours, POOL } from './ours.js';
import { RUNS } from './settings.js';

const side = process.env.PROFILE_SIDE ?? 'ours';
const rounds = Number(process.env.PROFILE_ROUNDS ?? 3);
/** Our store's statement slots (PROFILE_SLOTS); default the pool's size, as in the apps. */
const slots = Number(process.env.PROFILE_SLOTS ?? POOL);
const redis = await startRedis();
const db = await postgres('shard-worker-profile');
const none = async () => Number.NaN;
const round = () =>
  side === 'durable' ? durableFlows(redis.url, db.url) : ours(redis.url, db.url, none, slots);
// PROFILE_STATEMENTS=1: after the rounds, each statement's calls and execution time (the
// server's part of a statement, planning excluded) from pg_stat_statements.
const sql = new pg.Pool({ connectionString: db.url, max: 1 });
await sql.query('create extension if not exists pg_stat_statements').catch(() => {});
try {
  await round();
  // PROFILE_SQL: a change to try on the migrated database (an index dropped, say) before
  // the measured rounds. An experiment only: the database is the profile's own.
  if (process.env.PROFILE_SQL) await sql.query(process.env.PROFILE_SQL);
  await sql.query('select pg_stat_statements_reset()').catch(() => {});
  for (let i = 0; i < rounds; i++) {
    const r = await round();
    const per = (ms: number) => (ms / RUNS).toFixed(2);
    console.log(
      `${side}${side === 'ours' ? ` (${slots} slots)` : ''} round ${i + 1}: ${r.seconds.toFixed(2)} s, ${(RUNS / r.seconds).toFixed(1)} runs/s, CPU per run machine ${per(r.machineMs)} ms, this process ${per(r.ownMs)}, Redis ${per(r.redisMs)}, PostgreSQL backends ${per(r.backendMs)}`,
    );
  }
  if (process.env.PROFILE_STATEMENTS) {
    const { rows } = await sql.query<{
      calls: string;
      ms: number;
      q: string;
      blks: number;
      wal: number;
    }>(
      `select calls::text, round(total_exec_time::numeric, 1)::float as ms, left(query, 90) as q,
              round(shared_blks_hit::numeric / calls, 1)::float as blks,
              round(wal_bytes / calls)::float as wal
       from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database())
       order by total_exec_time desc limit 15`,
    );
    for (const r of rows)
      console.log(
        `${r.ms} ms x ${r.calls}, ${r.blks} buffers and ${r.wal} WAL bytes a call: ${r.q.replace(/\s+/g, ' ')}`,
      );
  }
} finally {
  await sql.end();
  await db.close();
  await redis.close();
}
