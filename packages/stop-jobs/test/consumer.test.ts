import { startRedis } from '@x/testkit';
import { Redis } from 'ioredis';
import { consumerContract } from './consumer-contract.js';

// One private redis-server for the file; the stream names are the single-node ones.
consumerContract('one Redis server', async () => {
  const server = await startRedis();
  const redis = new Redis(server.url);
  return {
    redis,
    close: async () => {
      redis.disconnect();
      await server.close();
    },
  };
});
