import { startRedis, type TestRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
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
