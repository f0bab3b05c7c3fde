// The two BullMQ references the shard-worker bench runs on the same Redis: Flows (BullMQ's
// own fan-out/fan-in, a parent completing after its children) and plain jobs (the same number
// of jobs with no fan-in and no state: the floor of any design that runs one job per shard).
import { uniqueName } from '@x/testkit';
import { FlowProducer, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { cpuSince, sampleCpu } from './machine-cpu.js';
import { BATCH, CONCURRENCY, RUNS, SHARDS, until } from './settings.js';

export async function flows(redisUrl: string) {
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
  const cpu = await sampleCpu(connection);
  const started = performance.now();
  for (let r = 0; r < RUNS; r += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, RUNS - r) }, (_, i) =>
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
  const used = await cpuSince(connection, cpu);
  await Promise.all([children.close(), parents.close(), producer.close()]);
  for (const c of [connection, ...extra]) c.disconnect();
  return { seconds, ...used };
}

export async function plainJobs(redisUrl: string) {
  const prefix = uniqueName('plain');
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('runs', { connection, prefix });
  let jobsDone = 0;
  const workerConnection = connection.duplicate();
  const worker = new Worker('runs', async () => ({ ok: true }), {
    connection: workerConnection,
    prefix,
    concurrency: CONCURRENCY,
  });
  worker.on('completed', () => {
    jobsDone++;
  });
  const cpu = await sampleCpu(connection);
  const started = performance.now();
  for (let r = 0; r < RUNS; r += BATCH) {
    const runs = Math.min(BATCH, RUNS - r);
    await queue.addBulk(
      Array.from({ length: runs * SHARDS }, (_, i) => ({
        name: 'shard',
        data: { run: r + Math.floor(i / SHARDS), shard: i % SHARDS },
      })),
    );
  }
  await until(() => jobsDone >= RUNS * SHARDS, 'plain jobs');
  const seconds = (performance.now() - started) / 1000;
  const used = await cpuSince(connection, cpu);
  await Promise.all([worker.close(), queue.close()]);
  for (const c of [connection, workerConnection]) c.disconnect();
  return { seconds, ...used };
}
