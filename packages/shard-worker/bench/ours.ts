// Our side of the shard-worker bench: one round of RUNS runs x SHARDS shards through a full
// stack (coordinator, enqueue outbox, shard queue, worker, run-store, events), then the
// exactly-once check from the database and the event history. The queue, the pool and the
// store's statements in flight are the apps' defaults (`SHARD_QUEUE=redis`, `DATABASE_POOL_MAX`
// 10, 4 shard statements at once); BENCH_SHARD_QUEUE=bullmq and BENCH_POOL=<n> measure others.
import { uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createStack } from '../test/fixtures/stack.js';
import { backendCpu, backendCpuSince } from './backend-cpu.js';
import { cpuSince, sampleCpu } from './machine-cpu.js';
import { BATCH, CONCURRENCY, RUNS, SHARDS, until } from './settings.js';

/** The worker's pool. */
export const POOL = Number(process.env.BENCH_POOL ?? 10);
/** The store's shard statements at once before it batches: the apps' `min(4, pool)`. */
export const SLOTS = Math.min(4, POOL);
/** The shard queue of our side. */
export const SHARD_QUEUE = process.env.BENCH_SHARD_QUEUE === 'bullmq' ? 'bullmq' : 'redis';
/** The variant the apps ran before 2026-12-07: as many shard statements at once as the pool. */
export const POOL_SLOTS = POOL;

export async function ours(
  redisUrl: string,
  databaseUrl: string,
  count: () => Promise<number>,
  statementsInFlight = SLOTS,
) {
  const stack = await createStack({
    databaseUrl,
    redisUrl,
    prefix: uniqueName('bench'),
    concurrency: CONCURRENCY,
    poolSize: POOL,
    statementsInFlight,
    shardQueue: SHARD_QUEUE,
    attempts: 3,
  });
  const tests = Array.from({ length: SHARDS }, (_, i) => ({ name: `t${i}`, durationMs: 0 }));
  const probe = new Redis(redisUrl);
  // The stack's pool stays open through the round, so its backends keep their CPU counts.
  const pgProbe = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const pgBefore = await backendCpu(pgProbe);
  const cpu = await sampleCpu(probe);
  const before = await count();
  const started = performance.now();
  const ids: string[] = [];
  for (let r = 0; r < RUNS; r += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, RUNS - r) }, () =>
        stack.coordinator.enqueueRun({
          workspaceId: 'bench',
          executor: 'demo',
          tests,
          shards: SHARDS,
        }),
      ),
    );
    ids.push(...batch.map((run) => run.id));
  }
  await until(() => stack.worker!.metrics().runsFinalized >= RUNS, 'runs finalized');
  await until(async () => (await stack.store.terminalRuns(ids)).length === RUNS, 'DB status');
  const seconds = (performance.now() - started) / 1000;
  const used = await cpuSince(probe, cpu);
  // The statements of the timed part (its one counting read excluded), not of the checks below.
  const statements = (await count()) - before - 1;
  // After the count: the backend sample's own read is no statement of the round.
  const backendMs = backendCpuSince(pgBefore, await backendCpu(pgProbe));
  await pgProbe.end();
  probe.disconnect();
  // exactly once, from the database (and the event history): every run completed once, with
  // exact counters, every shard completed once, one `done` each.
  let exact = true;
  for (const id of ids) {
    const run = await stack.store.getRunById(id);
    const done = (await stack.log.read(id, 0, 1000)).events.filter((e) => e.type === 'done').length;
    if (
      run?.status !== 'completed' ||
      run.shardsCompleted !== SHARDS ||
      run.passed + run.failed !== run.total ||
      run.total !== SHARDS ||
      done !== 1
    ) {
      exact = false;
    }
  }
  const metrics = stack.worker!.metrics();
  await stack.close();
  return { seconds, ...used, backendMs, exact, metrics, statements };
}
