import { randomUUID } from 'node:crypto';
import { silentLogger } from '@x/kernel';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisErrorReporter } from '../src/redis-error-reporter.js';
import { createRedisQueueCounters } from '../src/redis-queue-counters.js';
import { REDIS_QUEUE_GROUP, redisQueueKeys } from '../src/redis-queue-keys.js';
import { queueMaintenance } from '../src/redis-queue-maintenance.js';

let redis: TestRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.close();
});

// A pass scheduled for a retry can run a hair before the script's clock says it is due (the
// loop's cached time, two clocks' rounding). The retry must then come out by itself, not wait
// for the periodic sweep (`stalledIntervalMs`, a minute here).
it('a pass that runs before a retry is due schedules another for when it is', async () => {
  const [keys] = redisQueueKeys(uniqueName('rqm'), 1, { tagged: false });
  if (!keys) throw new Error('no partition keys');
  await client.call('XGROUP', 'CREATE', keys.stream, REDIS_QUEUE_GROUP, '0', 'MKSTREAM');
  const jobId = randomUUID();
  // A retry as the settle script leaves it: attempts made 1, stalls 0, max 3, backoff 10 ms.
  await client.hset(keys.jobs, jobId, `d:1,0,3,10|${JSON.stringify({ runId: jobId })}`);
  await client.zadd(keys.delayed, Date.now() + 150, jobId);
  const counters = createRedisQueueCounters();
  const controller = new AbortController();
  const maintenance = queueMaintenance({
    redis: client,
    partitions: [keys],
    consumer: 'c1',
    lockDurationMs: 30_000,
    stalledIntervalMs: 60_000,
    maxStalledCount: 1,
    keepFailed: 10,
    counters,
    logger: silentLogger,
    signal: controller.signal,
    redisError: redisErrorReporter(counters, silentLogger),
    abandon: () => {},
  });
  try {
    maintenance.later(0, 0);
    await waitFor(async () => (await client.xlen(keys.stream)) === 1, {
      what: 'the retry promoted to the stream',
      timeoutMs: 2_000,
    });
    expect(await client.zcard(keys.delayed)).toBe(0);
    expect(counters.promoted).toBe(1);
  } finally {
    controller.abort();
    maintenance.close();
  }
});
