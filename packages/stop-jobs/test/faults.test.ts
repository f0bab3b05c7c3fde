import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createStopJobsConsumer, requestStop } from '../src/index.js';
import { CountingService } from './support/services.js';

describe('stop-jobs consumer under Redis faults', () => {
  it('backs off while Redis is down instead of spinning, then recreates its group on the emptied server', async () => {
    const server = await startRedis();
    // Fail fast while disconnected, so the consumer loop itself sees every failure.
    const redis = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    await once(redis, 'ready');
    const prefix = uniqueName('sj');
    const service = new CountingService();
    const consumer = createStopJobsConsumer({
      redis,
      prefix,
      service,
      consumerName: 'w1',
      blockMs: 100,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    try {
      await consumer.start();
      await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' });
      await waitFor(() => service.calls === 1);

      await server.kill();
      await sleep(1500);
      const errors = consumer.metrics().errors.redis;
      expect(errors).toBeGreaterThan(0);
      // 50, 100, 200, 400, 400… ms: a handful in 1.5 s. A spinning loop makes thousands.
      expect(errors).toBeLessThan(20);

      await server.restart();
      await waitFor(() => redis.status === 'ready', { what: 'the client to reconnect' });
      const after = await waitFor(() =>
        requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' }).catch(
          () => undefined,
        ),
      );
      await waitFor(() => service.perEntry.has(after), {
        what: 'the entry written after the restart',
      });
      expect(consumer.metrics().groupsCreated).toBe(2);
    } finally {
      await consumer.close();
      redis.disconnect();
      await server.close();
    }
  });
});
