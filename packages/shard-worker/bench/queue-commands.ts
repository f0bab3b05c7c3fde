// Redis commands per shard job (INFO commandstats: a script's own commands included) and
// jobs/s, for the BullMQ shard queue (the reference) and the Redis one, in the same run on
// the same private Redis: ROUNDS alternating rounds per queue of RUNS 4-shard runs added one
// run per call (as the enqueuer does), taken by 2 consumers of concurrency 32 with an empty
// processor. Only the queue is measured (no store, no events). Last line: the JSON summary.
import { randomUUID } from 'node:crypto';
import { startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { bullmqShardQueue } from '../src/bullmq-shard-queue.js';
import { redisShardQueue } from '../src/redis-shard-queue.js';
import type { ShardQueue } from '../src/shard-queue.js';

const RUNS = Number(process.env.X_BENCH_RUNS ?? 500);
const ROUNDS = 2;
const SHARDS = 4;

async function commandCalls(probe: Redis): Promise<number> {
  const text = await probe.info('commandstats');
  let total = 0;
  for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm))
    if (m[1] !== 'info') total += Number(m[2]);
  return total;
}

async function round(kind: 'bullmq' | 'redis', url: string, probe: Redis) {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const prefix = uniqueName('qc');
  const queue: ShardQueue =
    kind === 'bullmq'
      ? bullmqShardQueue({ connection, prefix })
      : redisShardQueue({ connection, prefix });
  let done = 0;
  const consumers = [0, 1].map(() => queue.consume(async () => void done++, { concurrency: 32 }));
  await new Promise((r) => setTimeout(r, 500));
  const c0 = await commandCalls(probe);
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const runId = randomUUID();
    const jobs = Array.from({ length: SHARDS }, (_, k) => ({
      runId,
      workspaceId: 'ws',
      shardIndex: k,
      shardCount: SHARDS,
      executor: 'demo',
      callbackUrl: null,
      tests: [],
    }));
    void queue.add(jobs, { attempts: 3, backoffMs: 1000 });
  }
  while (done < RUNS * SHARDS) await new Promise((r) => setTimeout(r, 2));
  const seconds = (performance.now() - t0) / 1000;
  const c1 = await commandCalls(probe);
  await Promise.all(consumers.map((c) => c.close()));
  await queue.close();
  connection.disconnect();
  // The probe's own INFO calls are excluded above; what is left is the queue's.
  return { cmdsPerJob: (c1 - c0) / (RUNS * SHARDS), jobsPerS: (RUNS * SHARDS) / seconds };
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const redis = await startRedis();
const probe = new Redis(redis.url);
const results: Record<'bullmq' | 'redis', { cmdsPerJob: number; jobsPerS: number }[]> = {
  bullmq: [],
  redis: [],
};
try {
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of i % 2 === 0
      ? (['bullmq', 'redis'] as const)
      : (['redis', 'bullmq'] as const)) {
      const r = await round(kind, redis.url, probe);
      results[kind].push(r);
      console.log(
        `${kind}: ${RUNS} runs x ${SHARDS} shards: ${r2(r.cmdsPerJob)} Redis commands per job, ${r2(r.jobsPerS)} jobs/s`,
      );
    }
  }
} finally {
  probe.disconnect();
  await redis.close();
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  JSON.stringify({
    bench: 'queue-commands',
    runs: RUNS,
    shards: SHARDS,
    ref_bullmq_cmds_per_job: r2(mean(results.bullmq.map((r) => r.cmdsPerJob))),
    redis_cmds_per_job: r2(mean(results.redis.map((r) => r.cmdsPerJob))),
    ref_bullmq_jobs_per_s: r2(mean(results.bullmq.map((r) => r.jobsPerS))),
    redis_jobs_per_s: r2(mean(results.redis.map((r) => r.jobsPerS))),
  }),
);
process.exit(0);
