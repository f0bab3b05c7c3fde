import { randomUUID } from 'node:crypto';
import { keySlot, startRedisCluster, type TestRedisCluster, uniqueName, waitFor } from '@x/testkit';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createStopJobsConsumer, requestStop, stopJobsStreams } from '../src/index.js';
import { consumerContract } from './consumer-contract.js';
import { CountingService } from './support/services.js';
import { resultsLength } from './support/streams.js';

// One cluster (3 primaries + 3 replicas, ~3 s to start) for the whole file: the contract
// suite first, then the cluster's own tests, the failover last since it moves slots.
let started: Promise<TestRedisCluster> | undefined;
const cluster = () => {
  started ??= startRedisCluster();
  return started;
};
afterAll(async () => {
  await (await started)?.close();
});

/** An ioredis Cluster as the apps make one: offline queue on (see app-kit's redis-clients). */
const clusterClient = (c: TestRedisCluster) =>
  new Cluster(c.startupNodes, { clusterRetryStrategy: () => 100 });

consumerContract('Redis Cluster', async () => {
  const redis = clusterClient(await cluster());
  return { redis, close: async () => redis.disconnect() };
});

describe('stop-jobs streams on a Redis Cluster', () => {
  it('puts the jobs, results and dead-letter streams of a deployment in one slot, keeping the single-node names apart', () => {
    const one = stopJobsStreams('x');
    expect(one).toEqual({
      jobs: 'x:runs:stop_jobs',
      results: 'x:runs:job_results',
      dead: 'x:runs:stop_jobs:dead',
    });
    const tagged = stopJobsStreams('x', { cluster: true });
    expect(tagged).toEqual({
      jobs: '{x:runs}:stop_jobs',
      results: '{x:runs}:job_results',
      dead: '{x:runs}:stop_jobs:dead',
    });
    expect(new Set(Object.values(tagged).map(keySlot)).size).toBe(1);
    // Without the tag the three would not share a slot (the commit script would fail).
    expect(new Set(Object.values(one).map(keySlot)).size).toBeGreaterThan(1);
    // A prefix that is a hash tag already keeps its names: they share its slot.
    const braced = stopJobsStreams('{x}', { cluster: true });
    expect(braced.jobs).toBe('{x}:runs:stop_jobs');
    expect(new Set(Object.values(braced).map(keySlot)).size).toBe(1);
  });

  it('spreads the streams of different deployments over the primaries', async () => {
    const c = await cluster();
    const owners = new Set<number>();
    // Random prefixes: similar short ones (d0, d1, …) happen to hash near each other.
    for (let i = 0; i < 60 && owners.size < 3; i++) {
      const { jobs } = stopJobsStreams(uniqueName('deployment'), { cluster: true });
      owners.add((await c.primaryForKey(jobs)).port);
    }
    expect(owners.size).toBe(3);
  });

  it('names the streams by the client: requestStop on a Cluster writes the tagged stream', async () => {
    const c = await cluster();
    const redis = clusterClient(c);
    try {
      const prefix = uniqueName('sj');
      await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' });
      expect(await redis.xlen(stopJobsStreams(prefix, { cluster: true }).jobs)).toBe(1);
      expect(await redis.exists(stopJobsStreams(prefix).jobs)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('keeps consuming after the primary of its streams is SIGKILLed and its replica takes over', async () => {
    const c = await cluster();
    const redis = clusterClient(c);
    const prefix = uniqueName('failover');
    const service = new CountingService();
    const consumer = createStopJobsConsumer({
      redis,
      prefix,
      service,
      consumerName: 'w1',
      blockMs: 200,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    try {
      await consumer.start();
      const first = await requestStop(
        redis,
        { prefix },
        { runId: randomUUID(), reason: 'timeout' },
      );
      await waitFor(async () => (await resultsLength(redis, prefix)) === 1, {
        what: 'the first result',
      });
      expect(service.perEntry.has(first)).toBe(true);

      const owner = await c.primaryForKey(stopJobsStreams(prefix, { cluster: true }).jobs);
      await c.kill(owner);
      await c.waitHealthy({ timeoutMs: 30_000 });
      const after = await waitFor(
        () =>
          requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' }).catch(
            () => undefined,
          ),
        { timeoutMs: 20_000, what: 'a stop job accepted after the failover' },
      );
      // The service sees the entry before its result is committed and counted: wait for both.
      await waitFor(() => service.perEntry.has(after) && consumer.metrics().handled.success >= 2, {
        timeoutMs: 20_000,
        what: 'the entry written after the failover, handled',
      });
      expect(consumer.metrics().handled.success).toBeGreaterThanOrEqual(2);
      await c.restart(owner);
      await c.waitHealthy({ timeoutMs: 30_000 });
    } finally {
      await consumer.close();
      redis.disconnect();
    }
  });
});
