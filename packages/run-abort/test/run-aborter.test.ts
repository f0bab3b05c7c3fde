import { redisTransport } from '@x/pubsub-core';
import { startRedis } from '@x/testkit';
import { Redis } from 'ioredis';
import { runAborterContract } from './run-aborter-contract.js';

// One private redis-server for the file, classic pub/sub (PUBLISH/SUBSCRIBE) as on REDIS_URL.
runAborterContract('one Redis server', async () => {
  const server = await startRedis();
  const raw = new Redis(server.url);
  return {
    transport: () => redisTransport({ url: server.url }),
    publishRaw: (channel, message) => raw.publish(channel, message),
    close: async () => {
      raw.disconnect();
      await server.close();
    },
  };
});
