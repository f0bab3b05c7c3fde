/** One startup node of a Redis Cluster, as ioredis' `Cluster` takes it. */
export interface ClusterStartupNode {
  readonly host: string;
  readonly port: number;
}

/**
 * Where a fleet's Redis is: one server (`REDIS_URL`) or a Redis Cluster
 * (`REDIS_CLUSTER_NODES`). Credentials and TLS of a cluster apply to every node, as ioredis
 * applies `redisOptions` to each node it discovers.
 */
export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      /** Startup nodes: ioredis asks them for the slot map and finds the other nodes. */
      readonly nodes: readonly ClusterStartupNode[];
      /** `rediss://` entries: every node connection uses TLS. */
      readonly tls: boolean;
      /** ACL user of `redis://user:pass@…` entries (Redis 6+); unset: `default`. */
      readonly username?: string;
      /** `AUTH` password of `redis://:pass@…` entries. */
      readonly password?: string;
    };
