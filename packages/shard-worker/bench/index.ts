// 500 runs x 4 shards of zero-duration demo tests, enqueue -> finalized in PostgreSQL, against
// BullMQ's own fan-out/fan-in (FlowProducer: a parent completing after its 4 children) on the
// same Redis in the same run, in alternating rounds. Loopback only; the last line is the JSON
// summary.
import { postgres, startRedis, uniqueName } from '@x/testkit';
import { FlowProducer, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createStack } from '../test/fixtures/stack.js';

const RUNS = 500;
const SHARDS = 4;
const CONCURRENCY = 16;
const TIMEOUT_MS = 180_000;

async function until(check: () => boolean | Promise<boolean>, what: string) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function ours(redisUrl: string, databaseUrl: string) {
  const stack = await createStack({
    databaseUrl,
    redisUrl,
    prefix: uniqueName('bench'),
    concurrency: CONCURRENCY,
    poolSize: 20,
    attempts: 3,
  });
  const tests = Array.from({ length: SHARDS }, (_, i) => ({ name: `t${i}`, durationMs: 0 }));
  const started = performance.now();
  const ids: string[] = [];
  for (let r = 0; r < RUNS; r += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, RUNS - r) }, () =>
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
  // exactly once, from the database (and the event history): every run completed once, with
  // exact counters, every shard completed once, one `done` each.
  let exact = true;
  for (const id of ids) {
    const run = await stack.store.getRunById(id);
    const done = (await stack.log.read(id, 0, 1000)).filter((e) => e.type === 'done').length;
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
  return { seconds, exact, metrics };
}

async function flows(redisUrl: string) {
  const prefix = uniqueName('flow');
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const producer = new FlowProducer({ connection, prefix });
  let parentsDone = 0;
  const extra = [connection.duplicate(), connection.duplicate()] as const;
  const children = new Worker('flow-children', async () => ({ ok: true }), {
    connection: extra[0],
    prefix,
    concurrency: CONCURRENCY,
  });
  const parents = new Worker(
    'flow-parents',
    async (job) => {
      await job.getChildrenValues();
      return { ok: true };
    },
    { connection: extra[1], prefix, concurrency: CONCURRENCY },
  );
  parents.on('completed', () => {
    parentsDone++;
  });
  const started = performance.now();
  for (let r = 0; r < RUNS; r += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, RUNS - r) }, (_, i) =>
        producer.add({
          name: 'run',
          queueName: 'flow-parents',
          data: { run: r + i },
          children: Array.from({ length: SHARDS }, (_, s) => ({
            name: 'shard',
            queueName: 'flow-children',
            data: { shard: s },
          })),
        }),
      ),
    );
  }
  await until(() => parentsDone >= RUNS, 'flow parents');
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([children.close(), parents.close(), producer.close()]);
  for (const c of [connection, ...extra]) c.disconnect();
  return { seconds };
}

const ROUNDS = 2;
const redis = await startRedis();
const db = await postgres('shard-worker-bench');
// Rounds alternate (reference, ours, reference, ours) so load drift on a shared machine hits
// both sides alike; each side's figure is its total runs over its total time.
const flowRounds: Awaited<ReturnType<typeof flows>>[] = [];
const ourRounds: Awaited<ReturnType<typeof ours>>[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    flowRounds.push(await flows(redis.url));
    ourRounds.push(await ours(redis.url, db.url));
  }
} finally {
  await db.close();
  await redis.close();
}
const sum = (xs: { seconds: number }[]) => xs.reduce((t, x) => t + x.seconds, 0);
const flow = { seconds: sum(flowRounds) / ROUNDS };
const mine = {
  seconds: sum(ourRounds) / ROUNDS,
  exact: ourRounds.every((r) => r.exact),
  metrics: ourRounds.at(-1)!.metrics,
};
console.log(
  `rounds (s): flows ${flowRounds.map((r) => r.seconds.toFixed(2)).join(', ')}; shard-worker ${ourRounds.map((r) => r.seconds.toFixed(2)).join(', ')}`,
);
const runsPerS = RUNS / mine.seconds;
const flowsPerS = RUNS / flow.seconds;
console.log(
  `machine: 2 cores, loopback Redis and PostgreSQL; concurrency ${CONCURRENCY} per worker`,
);
console.log(
  `shard-worker: ${RUNS} runs x ${SHARDS} shards in ${mine.seconds.toFixed(2)} s = ${runsPerS.toFixed(1)} runs/s (mean of ${ROUNDS} rounds; PostgreSQL state, events, exactly-once)`,
);
console.log(
  `BullMQ FlowProducer: ${RUNS} parents x ${SHARDS} children in ${flow.seconds.toFixed(2)} s = ${flowsPerS.toFixed(1)} runs/s (mean of ${ROUNDS} rounds)`,
);
console.log(`worker metrics: ${JSON.stringify(mine.metrics)}`);
console.log(
  JSON.stringify({
    bench: 'shard-worker',
    runs: RUNS,
    shards: SHARDS,
    runs_per_s: Number(runsPerS.toFixed(1)),
    flows_runs_per_s: Number(flowsPerS.toFixed(1)),
    ratio: Number((runsPerS / flowsPerS).toFixed(2)),
    exactly_once: mine.exact,
  }),
);
