// The fair reference of issue 18: the same durable outcome as ours, written by hand the way a
// competent engineer would with BullMQ Flows and `pg` — no events, no abort, no callback.
// Per 4-shard run: the producer inserts the run row, then adds a Flow with one child per
// shard; each child inserts its result rows in one multi-row statement, then records its
// completion (insert … on conflict do nothing) and bumps the run's counters only when that
// insert was new, in one statement; the parent writes the final status once. 10 statements.
import { uniqueName } from '@x/testkit';
import { FlowProducer, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { backendCpu, backendCpuSince } from './backend-cpu.js';
import { cpuSince, sampleCpu } from './machine-cpu.js';
import { BATCH, CONCURRENCY, RUNS, SHARDS, until } from './settings.js';

const SCHEMA = `
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
    status text not null, duration_ms int not null, primary key (run_id, test_id));`;

const COMPLETE = `
  with done as (
    insert into ref_shards (run_id, shard_index) values ($1, $2)
    on conflict do nothing returning run_id)
  update ref_runs set shards_completed = shards_completed + 1,
    passed = passed + $3, failed = failed + $4
  from done where ref_runs.id = done.run_id`;

export async function durableFlows(redisUrl: string, databaseUrl: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
  await pool.query(SCHEMA);
  const prefix = uniqueName('durable');
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const producer = new FlowProducer({ connection, prefix });
  const extra = [connection.duplicate(), connection.duplicate()] as const;
  let parentsDone = 0;
  const children = new Worker(
    'durable-children',
    async (job) => {
      const { runId, shard } = job.data as { runId: string; shard: number };
      // One zero-duration test per shard, as in our side of the bench; it passes.
      await pool.query(
        `insert into ref_results (run_id, shard_index, test_id, name, status, duration_ms)
         select $1, $2, t.id, t.name, 'passed', 0
         from unnest($3::text[], $4::text[]) as t(id, name) on conflict do nothing`,
        [runId, shard, [String(shard)], [`t${shard}`]],
      );
      await pool.query(COMPLETE, [runId, shard, 1, 0]);
      return { ok: true };
    },
    { connection: extra[0], prefix, concurrency: CONCURRENCY },
  );
  const parents = new Worker(
    'durable-parents',
    async (job) => {
      await pool.query(
        `update ref_runs set status = 'completed', finished_at = now()
         where id = $1 and status = 'running'`,
        [(job.data as { runId: string }).runId],
      );
      return { ok: true };
    },
    { connection: extra[1], prefix, concurrency: CONCURRENCY },
  );
  parents.on('completed', () => {
    parentsDone++;
  });
  const pgBefore = await backendCpu(pool);
  const cpu = await sampleCpu(connection);
  const started = performance.now();
  const ids: string[] = [];
  for (let r = 0; r < RUNS; r += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, RUNS - r) }, async () => {
        const runId = crypto.randomUUID();
        ids.push(runId);
        await pool.query(
          `insert into ref_runs (id, status, shard_count, total) values ($1, 'running', $2, $2)`,
          [runId, SHARDS],
        );
        await producer.add({
          name: 'run',
          queueName: 'durable-parents',
          data: { runId },
          children: Array.from({ length: SHARDS }, (_, shard) => ({
            name: 'shard',
            queueName: 'durable-children',
            data: { runId, shard },
          })),
        });
      }),
    );
  }
  await until(() => parentsDone >= RUNS, 'durable flow parents');
  const seconds = (performance.now() - started) / 1000;
  const used = await cpuSince(connection, cpu);
  const backendMs = backendCpuSince(pgBefore, await backendCpu(pool));
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from ref_runs
     where id = any($1::uuid[]) and status = 'completed' and shards_completed = $2 and passed = $2`,
    [ids, SHARDS],
  );
  await Promise.all([children.close(), parents.close(), producer.close()]);
  for (const c of [connection, ...extra]) c.disconnect();
  await pool.end();
  if (rows[0]?.n !== RUNS)
    throw new Error(`durable reference: ${rows[0]?.n} of ${RUNS} runs exact`);
  return { seconds, ...used, backendMs };
}
