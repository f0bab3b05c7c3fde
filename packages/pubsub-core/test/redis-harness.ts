import { startRedis, type TestRedis } from '@x/testkit';
import { Redis } from 'ioredis';
import { type RedisTransportOptions, redisTransport } from '../src/index.js';
import type { TransportHarness } from './contract-suite.js';

/** Subscribers Redis itself counts on a channel (PUBSUB NUMSUB or SHARDNUMSUB). */
export async function numsub(admin: Redis, channel: string, sharded = false): Promise<number> {
  const reply = (await admin.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel)) as [
    string,
    number,
  ];
  return Number(reply[1]);
}

/** A private redis-server for a contract-suite run. */
export async function redisHarness(
  opts: Omit<RedisTransportOptions, 'url'> = {},
): Promise<TransportHarness & { redis: TestRedis }> {
  const redis = await startRedis();
  const admin = new Redis(redis.url);
  return {
    redis,
    transport: () => redisTransport({ url: redis.url, ...opts }),
    subscriberCount: (channel) => numsub(admin, channel, opts.sharded),
    close: async () => {
      admin.disconnect();
      await redis.close();
    },
  };
}
