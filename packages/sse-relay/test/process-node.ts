import { createBus, redisTransport } from '@x/pubsub-core';
import { Redis } from 'ioredis';
import { createRunEvents, type RunEventsOptions, redisEventLog } from '../src/index.js';

/**
 * A process against a Redis the test kills: its own connections, as an api or worker has them
 * (commands fail fast while Redis is down, the bus reconnects quickly). Closed by `cleanup`.
 */
export async function processNode(
  redisUrl: string,
  prefix: string,
  cleanup: Array<() => Promise<void> | void>,
  opts: Partial<RunEventsOptions> = {},
) {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const bus = createBus({
    transport: redisTransport({ url: redisUrl, backoff: { initialMs: 50, maxMs: 300 } }),
    prefix,
  });
  await bus.ready();
  const log = redisEventLog({ redis: client, prefix });
  const events = createRunEvents({ bus, log, ...opts });
  cleanup.push(async () => {
    await events.close();
    await bus.close();
    client.disconnect();
  });
  return { bus, events, log };
}
