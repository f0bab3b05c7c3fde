// The fair reference of issue 18: the same durable outcome as ours, written by hand the way a
// competent engineer would with BullMQ Flows and `pg` — no events, no abort, no callback.
// Per 4-shard run: the producer inserts the run row, then adds a Flow with one child per
// shard; each child inserts its result rows in one multi-row statement, then records its
// completion (insert … on conflict do nothing) and bumps the run's counters only when that
// insert was new, in one statement; the parent writes the final status once. 10 statements.
import { DURABLE_REFERENCE_SQL, uniqueName } from '@x/testkit';
import { FlowProducer, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { backendCpu, backendCpuSince } from './backend-cpu.js';
import { cpuSince, sampleCpu } from './machine-cpu.js';
import { BATCH, CONCURRENCY, RUNS, SHARDS, until } from './settings.js';

const SQL = DURABLE_REFERENCE_SQL;

export async function durableFlows(redisUrl: string, databaseUrl: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
  await pool.query(SQL.SCHEMA);
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
      await pool.query(SQL.INSERT_RESULTS, [runId, shard, [String(shard)], [`t${shard}`]]);
      await pool.query(SQL.COMPLETE, [runId, shard, 1, 0]);
      return { ok: true };
    },
    { connection: extra[0], prefix, concurrency: CONCURRENCY },
  );
  const parents = new Worker(
    'durable-parents',
    async (job) => {
      await pool.query(SQL.FINISH, [(job.data as { runId: string }).runId]);
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
        await pool.query(SQL.INSERT_RUN, [runId, SHARDS, SHARDS]);
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
