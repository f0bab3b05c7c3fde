import { createBus, type RedisPubSubClient, redisTransport, type Transport } from '@x/pubsub-core';
import { createRunStore, migrate, openPostgres } from '@x/run-store';
import {
  postgres,
  startRedisCluster,
  type TestRedisCluster,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunAborter, createShardRegistry } from '../src/index.js';
import { runAborterContract } from './run-aborter-contract.js';

// One cluster (3 primaries + 3 replicas) for the file: the contract suite, then the failover.
let started: Promise<TestRedisCluster> | undefined;
const cluster = () => {
  started ??= startRedisCluster();
  return started;
};
afterAll(async () => {
  await (await started)?.close();
});

/**
 * Sharded pub/sub through ioredis `Cluster` clients, as @x/app-kit's `createPubSubTransport`
 * makes it for `REDIS_CLUSTER_NODES` (app-kit depends on this package, so it is not imported).
 */
const shardedTransport = (c: TestRedisCluster): Transport =>
  redisTransport({
    sharded: true,
    backoff: { maxMs: 500 },
    createClient: (role) =>
      new Cluster(c.startupNodes, {
        lazyConnect: true,
        shardedSubscribers: true,
        clusterRetryStrategy: () => 100,
        redisOptions: {
          connectionName: `x-pubsub-${role}`,
          autoResubscribe: false,
          maxRetriesPerRequest: 0,
        },
      }) as unknown as RedisPubSubClient,
  });

runAborterContract('Redis Cluster, sharded pub/sub', async () => {
  const c = await cluster();
  const raw = new Cluster(c.startupNodes);
  return {
    transport: () => shardedTransport(c),
    publishRaw: (channel, message) => raw.spublish(channel, message),
    close: async () => raw.disconnect(),
  };
});

describe('run aborts on a Redis Cluster', () => {
  it('reach another replica by the message again after the primary of the abort channel is SIGKILLed and failed over', async () => {
    const c = await cluster();
    const pg = await postgres('run_abort_failover');
    const db = openPostgres(pg.url, { max: 4 });
    await migrate(db);
    const store = createRunStore(db);
    const prefix = uniqueName('failover');
    const replicas = [0, 1].map(() => {
      const bus = createBus({ transport: shardedTransport(c), prefix });
      const registry = createShardRegistry();
      return {
        bus,
        registry,
        aborter: createRunAborter({ bus, store, registry, sweepIntervalMs: 0 }),
      };
    });
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const newRun = async () => {
      const run = await store.createRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards: [{ testIds: ['a'] }],
      });
      await store.transition(run.id, ['queued'], 'running');
      return run.id;
    };
    try {
      await Promise.all([a.bus.ready(), b.bus.ready()]);
      await Promise.all([a.aborter.start(), b.aborter.start()]);
      const before = await newRun();
      const first = new AbortController();
      b.registry.register(before, 0, first);
      await a.aborter.abort(before, 'before the failover');
      await waitFor(() => first.signal.aborted, { timeoutMs: 10_000, what: 'the first abort' });
      expect(b.aborter.metrics().received).toBe(1);

      const owner = await c.primaryForKey(`${prefix}:run-abort`);
      await c.kill(owner);
      await c.waitHealthy({ timeoutMs: 30_000 });
      await waitFor(() => a.bus.state === 'connected' && b.bus.state === 'connected', {
        timeoutMs: 20_000,
        what: 'both buses connected again',
      });

      // Registered after the reconnect's reconcile: only the message can cancel it now.
      const after = await newRun();
      const second = new AbortController();
      b.registry.register(after, 0, second);
      // Pub/sub is fire-and-forget: a publish while the subscriber re-subscribes may be lost,
      // and a repeated abort publishes again (as the api's retry would).
      await waitFor(
        async () => {
          await a.aborter.abort(after, 'after the failover');
          return second.signal.aborted;
        },
        { timeoutMs: 20_000, intervalMs: 250, what: 'an abort by message after the failover' },
      );
      expect(b.aborter.metrics().received).toBeGreaterThanOrEqual(2);
      expect(b.aborter.metrics().reconcileShardsAborted).toBe(0);
      await c.restart(owner);
      await c.waitHealthy({ timeoutMs: 30_000 });
    } finally {
      for (const r of replicas) {
        await r.aborter.close();
        await r.bus.close();
      }
      await db.destroy();
      await pg.close();
    }
  });
});
