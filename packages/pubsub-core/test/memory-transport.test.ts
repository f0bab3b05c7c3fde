import { memoryTransport } from '../src/index.js';
import { transportContract } from './contract-suite.js';

transportContract('memory', async () => {
  const transport = memoryTransport();
  return {
    transport: () => transport,
    subscriberCount: async (channel) => transport.subscriberCount(channel),
    close: async () => {},
  };
});
