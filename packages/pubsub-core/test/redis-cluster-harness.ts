import { startRedisCluster, type TestRedisCluster } from '@x/testkit';
import { Cluster, Redis } from 'ioredis';
import { type RedisPubSubClient, redisTransport } from '../src/index.js';
import type { TransportHarness } from './contract-suite.js';
import { numsub } from './redis-harness.js';

/**
 * A private Redis Cluster (testkit: 3 primaries + 3 replicas) for a contract-suite run of the
 * sharded transport, each bus connection an ioredis `Cluster` given through `createClient`.
 *
 * `enableOfflineQueue` stays true here, against the transport's advice for plain clients: a
 * `Cluster` connects to each primary lazily, on the first command for its slots, and with the
 * queue off it bounces commands sent while that connection is still connecting through a
 * random node, whose MOVED reply sends them back late, out of publish order.
 */
export async function redisClusterHarness(): Promise<
  TransportHarness & { cluster: TestRedisCluster }
> {
  const cluster = await startRedisCluster();
  return {
    cluster,
    transport: () =>
      redisTransport({
        sharded: true,
        createClient: (role) =>
          new Cluster(cluster.startupNodes, {
            lazyConnect: true,
            shardedSubscribers: true,
            redisOptions: {
              connectionName: `x-pubsub-${role}`,
              autoResubscribe: false,
              maxRetriesPerRequest: 0,
            },
          }) as unknown as RedisPubSubClient,
      }),
    // A sharded subscription lives on the primary that owns the channel's slot.
    subscriberCount: async (channel) => {
      const owner = await cluster.primaryForKey(channel);
      const admin = new Redis(owner.port, owner.host, { maxRetriesPerRequest: 0 });
      try {
        return await numsub(admin, channel, true);
      } finally {
        admin.disconnect();
      }
    },
    close: () => cluster.close(),
  };
}
