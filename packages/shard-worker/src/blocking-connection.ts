import type { Cluster, Redis } from 'ioredis';

/**
 * A connection of its own for blocking reads (BullMQ's `BZPOPMIN`, our `XREADGROUP BLOCK`),
 * duplicated from the queue's client with `maxRetriesPerRequest: null`, so a long block is
 * never cut off by ioredis' retry count (BullMQ requires it for a Worker).
 */
export function blockingConnection(connection: Redis | Cluster): Redis | Cluster {
  if ('isCluster' in connection && connection.isCluster) {
    const cluster = connection as Cluster;
    return cluster.duplicate(undefined, {
      redisOptions: { ...cluster.options.redisOptions, maxRetriesPerRequest: null },
    });
  }
  return (connection as Redis).duplicate({ maxRetriesPerRequest: null });
}
