import { type Bus, createBus, defineChannel } from '@x/pubsub-core';
import {
  startRedis,
  startRedisCluster,
  type TestRedisCluster,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createPubSubTransport, createRedisClient, parseClusterNodes } from '../src/index.js';

const ticks = defineChannel({ name: 'tick', version: 1, schema: z.object({ n: z.number() }) });

type Transport = ReturnType<typeof createPubSubTransport>;

/**
 * Two buses of `transport` on one prefix, ready, the second subscribed to `ticks`: runs `body`
 * with the first and the numbers the second got so far, then closes both.
 */
async function withBusPair<T>(
  transport: () => Transport,
  body: (from: Bus, got: number[]) => Promise<T>,
): Promise<T> {
  const prefix = uniqueName('clients');
  const [from, to] = [
    createBus({ transport: transport(), prefix }),
    createBus({ transport: transport(), prefix }),
  ];
  try {
    await Promise.all([from.ready(), to.ready()]);
    const got: number[] = [];
    await to.channel(ticks).subscribe(({ n }) => void got.push(n));
    return await body(from, got);
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
}

/** Sends 200 numbered messages from one bus to another; resolves with what arrived. */
const relay = (transport: () => Transport) =>
  withBusPair(transport, async (from, got) => {
    for (let n = 0; n < 200; n++) from.channel(ticks).publish({ n });
    await waitFor(() => got.length === 200, { what: '200 messages' });
    return { got };
  });

describe('connections to one Redis server (REDIS_URL)', () => {
  it('makes a named Redis client and a classic pub/sub transport', async () => {
    const server = await startRedis();
    const redis = createRedisClient(
      { kind: 'single', url: server.url },
      { connectionName: 'x-t1' },
    );
    try {
      expect(redis).toBeInstanceOf(Redis);
      expect(await redis.call('CLIENT', 'GETNAME')).toBe('x-t1');
      const transport = () => createPubSubTransport({ kind: 'single', url: server.url });
      expect(transport().kind).toBe('redis');
      const { got } = await relay(transport);
      expect(got).toEqual([...Array(200).keys()]);
    } finally {
      redis.disconnect();
      await server.close();
    }
  });

  it('the bus is back within ~2 s of Redis, however long Redis was down (PUBSUB_BACKOFF)', async () => {
    const server = await startRedis();
    const transport = () => createPubSubTransport({ kind: 'single', url: server.url });
    try {
      await withBusPair(transport, async (from, got) => {
        await server.kill();
        // Long enough for the 5 s ceiling the transport has by itself: its 6th retry waits ~5 s.
        await new Promise((r) => setTimeout(r, 7_500));
        expect(from.metrics().connectionErrors).toBeGreaterThan(0);
        await server.restart();
        const back = performance.now();
        await waitFor(
          () => {
            from.channel(ticks).publish({ n: 1 });
            return got.length > 0;
          },
          { timeoutMs: 10_000, intervalMs: 20, what: 'a message through the reconnected buses' },
        );
        // The ceiling is 2 s ± 20 %: 2.4 s at most, plus the reconnect and the resubscribe.
        expect(performance.now() - back).toBeLessThan(3_000);
      });
    } finally {
      await server.close();
    }
  }, 30_000);
});

// One cluster for the file (3 primaries + 3 replicas); the password test runs last because
// it locks the nodes.
describe('connections to a Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  let cluster: TestRedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster?.close();
  });
  const target = () => {
    const parsed = parseClusterNodes(cluster.nodesEnv);
    if ('problem' in parsed) throw new Error(parsed.problem);
    return parsed;
  };

  it('makes a Cluster client that reaches keys of every primary, with its connection name', async () => {
    const redis = createRedisClient(target(), { connectionName: 'x-t2' });
    try {
      expect(redis).toBeInstanceOf(Cluster);
      const prefix = uniqueName('k');
      const keys = Array.from({ length: 30 }, (_, i) => `${prefix}:${i}`);
      const owners = new Set(
        await Promise.all(keys.map(async (key) => (await cluster.primaryForKey(key)).port)),
      );
      expect(owners.size).toBe(3);
      await Promise.all(keys.map((key, i) => redis.set(key, String(i))));
      expect(await Promise.all(keys.map((key) => redis.get(key)))).toEqual(
        keys.map((_, i) => String(i)),
      );
      expect(await redis.call('CLIENT', 'GETNAME')).toBe('x-t2');
    } finally {
      redis.disconnect();
    }
  });

  it('makes a sharded pub/sub transport: SSUBSCRIBE on the primary of the channel slot, order kept', async () => {
    const transport = () => createPubSubTransport(target());
    expect(transport().kind).toBe('redis-sharded');
    const { got } = await relay(transport);
    expect(got).toEqual([...Array(200).keys()]);
  });

  it('holds the subscription on the primary that owns the channel slot', async () => {
    const prefix = uniqueName('where');
    const bus = createBus({ transport: createPubSubTransport(target()), prefix });
    try {
      await bus.ready();
      await bus.channel(ticks).subscribe(() => {});
      const owner = await cluster.primaryForKey(`${prefix}:tick`);
      const admin = new Redis(owner.port, owner.host);
      try {
        const reply = (await admin.call('PUBSUB', 'SHARDNUMSUB', `${prefix}:tick`)) as [
          string,
          number,
        ];
        expect(Number(reply[1])).toBe(1);
      } finally {
        admin.disconnect();
      }
    } finally {
      await bus.close();
    }
  });

  it('authenticates every node connection with the password of redis://:pass@ entries', async () => {
    const password = uniqueName('pw');
    for (const node of cluster.nodes) {
      const admin = new Redis(node.port, node.host);
      await admin.call('CONFIG', 'SET', 'masterauth', password);
      await admin.call('CONFIG', 'SET', 'requirepass', password);
      admin.disconnect();
    }
    const withPassword = parseClusterNodes(
      cluster.nodes.map((n) => `redis://:${password}@${n.host}:${n.port}`).join(','),
    );
    if ('problem' in withPassword) throw new Error(withPassword.problem);
    const good = createRedisClient(withPassword, { connectionName: 'x-t3' });
    const bad = createRedisClient(target(), { connectionName: 'x-t4' });
    bad.on('error', () => {});
    try {
      const key = uniqueName('auth');
      await good.set(key, 'ok');
      expect(await good.get(key)).toBe('ok');
      // Without the password the cluster never becomes ready for this client (events.once
      // would reject on its first 'error').
      let errors = 0;
      bad.on('error', () => errors++);
      const refused = await Promise.race([
        new Promise((resolve) => bad.once('ready', () => resolve('ready'))),
        new Promise((resolve) => setTimeout(() => resolve('not ready'), 1_500)),
      ]);
      expect(refused).toBe('not ready');
      expect(errors).toBeGreaterThan(0);
    } finally {
      good.disconnect();
      bad.disconnect();
    }
  });
});
