import { randomUUID } from 'node:crypto';
import { startRedisCluster, type TestRedisCluster, uniqueName, waitFor } from '@x/testkit';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { bullmqShardQueue } from '../src/bullmq-shard-queue.js';
import { partitionOf } from '../src/queue-partitions.js';
import { redisShardQueue } from '../src/redis-shard-queue.js';
import type { ShardQueue } from '../src/shard-queue.js';
import { jobData, shardQueueContract } from './shard-queue-contract.js';

// One cluster (3 primaries + 3 replicas) for the whole file.
let started: Promise<TestRedisCluster> | undefined;
const cluster = () => {
  started ??= startRedisCluster();
  return started;
};
const clients: Cluster[] = [];
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await (await started)?.close();
});
/** An ioredis Cluster as the apps make one (offline queue on). */
const connect = async () => {
  const c = new Cluster((await cluster()).startupNodes, { clusterRetryStrategy: () => 100 });
  clients.push(c);
  return c;
};

/** Adds one job for each of 9 runs and checks one consumer takes every job exactly once. */
async function drainsEachRunOnce(queue: ShardQueue): Promise<string[]> {
  const runs = Array.from({ length: 9 }, () => randomUUID());
  await queue.add(
    runs.map((r) => jobData(r, 0)),
    { attempts: 1, backoffMs: 10 },
  );
  const seen = new Map<string, number>();
  const consumer = queue.consume(
    async (job) => {
      seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
    },
    { concurrency: 2 },
  );
  await waitFor(() => seen.size === runs.length, { what: 'every run', timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 200));
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
  await consumer.close();
  return runs;
}

shardQueueContract('bullmq on a Redis Cluster, 1 partition', async () =>
  bullmqShardQueue({ connection: await connect(), prefix: uniqueName('cq') }),
);

shardQueueContract('bullmq on a Redis Cluster, 3 partitions', async () =>
  bullmqShardQueue({ connection: await connect(), prefix: uniqueName('cq'), partitions: 3 }),
);

describe('queue partitions on a Redis Cluster', () => {
  it('puts the three partitions on the three primaries, and a consumer drains all of them', async () => {
    const c = await cluster();
    const prefix = uniqueName('spread');
    const queue = bullmqShardQueue({ connection: await connect(), prefix, partitions: 3 });
    const owners = await Promise.all(
      queue.queueNames.map(async (q) => (await c.primaryForKey(`${q}:wait`)).port),
    );
    expect(new Set(owners).size).toBe(3);

    const runs = await drainsEachRunOnce(queue);
    expect(new Set(runs.map((r) => partitionOf(r, 3))).size).toBeGreaterThan(1);
    await queue.close();
  });
});

shardQueueContract('redis on a Redis Cluster, 1 partition', async () =>
  redisShardQueue({ connection: await connect(), prefix: uniqueName('rcq') }),
);

shardQueueContract('redis on a Redis Cluster, 3 partitions', async () =>
  redisShardQueue({ connection: await connect(), prefix: uniqueName('rcq'), partitions: 3 }),
);

describe('redis queue partitions on a Redis Cluster', () => {
  it('puts the three partitions on the three primaries, and a consumer drains all of them', async () => {
    const c = await cluster();
    const queue = redisShardQueue({
      connection: await connect(),
      prefix: uniqueName('rspread'),
      partitions: 3,
    });
    const owners = await Promise.all(
      queue.keys.map(async (k) => (await c.primaryForKey(k.stream)).port),
    );
    expect(new Set(owners).size).toBe(3);
    await drainsEachRunOnce(queue);
    await queue.close();
  });
});
