import { startRedis, type TestRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmqShardQueue } from '../src/bullmq-shard-queue.js';
import { memoryShardQueue } from '../src/memory-shard-queue.js';
import { redisShardQueue } from '../src/redis-shard-queue.js';
import { shardQueueContract } from './shard-queue-contract.js';

let redis: TestRedis;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await redis.close();
});

shardQueueContract('memory', async () => memoryShardQueue());

shardQueueContract('bullmq', async () => {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  clients.push(connection);
  return bullmqShardQueue({ connection, prefix: uniqueName('sq') });
});

shardQueueContract('bullmq, 3 partitions', async () => {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  clients.push(connection);
  return bullmqShardQueue({ connection, prefix: uniqueName('sq'), partitions: 3 });
});

shardQueueContract('redis', async () => {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  clients.push(connection);
  return redisShardQueue({ connection, prefix: uniqueName('rq') });
});

shardQueueContract('redis, 3 partitions', async () => {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  clients.push(connection);
  return redisShardQueue({ connection, prefix: uniqueName('rq'), partitions: 3 });
});

describe('the Redis-backed queues check their shared options alike', () => {
  const queues = { bullmq: bullmqShardQueue, redis: redisShardQueue };
  it.each([
    ['lockDurationMs', 0, />= 3, got 0/],
    ['stalledIntervalMs', 0, />= 1, got 0/],
    ['maxStalledCount', -1, />= 0, got -1/],
    ['keepFailed', 1.5, />= 0, got 1.5/],
  ])('refuses %s = %s, naming it', (name, value, detail) => {
    const connection = new Redis(redis.url, { lazyConnect: true });
    clients.push(connection);
    for (const make of Object.values(queues)) {
      expect(() => make({ connection, prefix: uniqueName('opt'), [name]: value })).toThrow(
        expect.objectContaining({
          code: 'invalid_option',
          message: expect.stringMatching(
            new RegExp(`^${name} must be an integer ${detail.source}`),
          ),
        }),
      );
    }
  });
});
