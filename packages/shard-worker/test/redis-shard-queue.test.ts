import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_QUEUE_GROUP } from '../src/redis-queue-keys.js';
import { type RedisShardQueueOptions, redisShardQueue } from '../src/redis-shard-queue.js';
import type { AbandonedShardJob, ShardJob } from '../src/shard-queue.js';
import { jobData } from './shard-queue-contract.js';

// What only the Redis shard queue has: leases, the reaper, malformed entries, Redis lost.
let redis: TestRedis;
const clients: Redis[] = [];
const closers: (() => Promise<void>)[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis.close();
});

const client = () => {
  const c = new Redis(redis.url, { maxRetriesPerRequest: null });
  // The outage test kills the server: reconnect errors are expected, not failures.
  c.on('error', () => {});
  clients.push(c);
  return c;
};
const makeQueue = (opts: Partial<RedisShardQueueOptions> = {}) => {
  const queue = redisShardQueue({ connection: client(), prefix: uniqueName('rq'), ...opts });
  closers.push(() => queue.close());
  return queue;
};
const ONCE = { attempts: 1, backoffMs: 10 };
/** A lease short enough for a test; the reaper looks every 100 ms. */
const FAST = { lockDurationMs: 300, stalledIntervalMs: 100 };

/** Reads the next entry as a consumer that then dies: it never settles nor renews. */
async function readAndDie(stream: string) {
  const c = client();
  await c.call('XGROUP', 'CREATE', stream, REDIS_QUEUE_GROUP, '0', 'MKSTREAM').catch(() => {});
  const reply = await c.call(
    'XREADGROUP',
    'GROUP',
    REDIS_QUEUE_GROUP,
    'dead',
    'COUNT',
    1,
    'STREAMS',
    stream,
    '>',
  );
  expect(reply).not.toBeNull();
}

describe('redisShardQueue', () => {
  it('redelivers a job whose consumer died once its lease expires: redelivered, same attempt, one stall', async () => {
    const queue = makeQueue(FAST);
    const runId = randomUUID();
    await queue.add([jobData(runId, 0)], { attempts: 2, backoffMs: 10 });
    await readAndDie(queue.keys[0]!.stream);
    const seen: ShardJob[] = [];
    const consumer = queue.consume(async (job) => {
      seen.push(job);
    });
    await waitFor(() => seen.length === 1, { what: 'redelivery' });
    expect(seen[0]).toMatchObject({ id: `${runId}-0`, attempt: 1, redelivered: true });
    // The reaper's reply may come in after the re-issued entry was read and delivered.
    await waitFor(() => queue.counters.stalled === 1, { what: 'the stall counted' });
    await waitFor(async () => (await queue.missing([`${runId}-0`])).length === 1, {
      what: 'the finished job forgotten',
    });
    await consumer.close();
  });

  it('fails a job that stalled more than maxStalledCount times and reports it abandoned', async () => {
    const queue = makeQueue({ ...FAST, maxStalledCount: 0 });
    const runId = randomUUID();
    await queue.add([jobData(runId, 0)], ONCE);
    await readAndDie(queue.keys[0]!.stream);
    const abandoned: AbandonedShardJob[] = [];
    let calls = 0;
    const consumer = queue.consume(
      async () => {
        calls++;
      },
      { onAbandoned: (job) => void abandoned.push(job) },
    );
    await waitFor(() => abandoned.length === 1, { what: 'abandoned' });
    expect(abandoned[0]!.id).toBe(`${runId}-0`);
    expect(abandoned[0]!.reason).toMatch(/stalled more than 0 times/);
    expect((abandoned[0]!.data as { runId: string }).runId).toBe(runId);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(0);
    // Failed and kept: held, so the repair sweep does not add it again.
    expect(await queue.missing([`${runId}-0`])).toEqual([]);
    await consumer.close();
  });

  it('renews the leases of running jobs, so a job longer than its lease is not taken over', async () => {
    // A job three leases long. The lease is not FAST's 300 ms: with the whole suite on 2
    // cores, a timer 300 ms late lost a lease (CI, 2026-12-07); this one survives a renewal
    // ~500 ms late.
    const queue = makeQueue({ ...FAST, lockDurationMs: 800 });
    const runId = randomUUID();
    const starts: string[] = [];
    const slow = async (job: ShardJob) => {
      starts.push(job.id);
      await new Promise((r) => setTimeout(r, 2_400));
    };
    const a = queue.consume(slow, { concurrency: 2 });
    const b = queue.consume(slow, { concurrency: 2 });
    await queue.add([jobData(runId, 0, 2), jobData(runId, 1, 2)], ONCE);
    await waitFor(async () => (await queue.missing([`${runId}-0`, `${runId}-1`])).length === 2, {
      what: 'both finished',
      timeoutMs: 8_000,
    });
    expect(starts.sort()).toEqual([`${runId}-0`, `${runId}-1`]);
    expect(queue.counters.stalled).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('counts and drops malformed stream entries and keeps delivering', async () => {
    const queue = makeQueue();
    const raw = client();
    const { stream } = queue.keys[0]!;
    await raw.xadd(stream, '*', 'garbage', '1');
    await raw.xadd(stream, '*', 'j', 'some-run-0', 'a', 'x', 'd', '{}');
    const runId = randomUUID();
    await queue.add([jobData(runId, 0)], ONCE);
    const seen: string[] = [];
    const abandoned: AbandonedShardJob[] = [];
    const consumer = queue.consume(
      async (job) => {
        seen.push(job.id);
      },
      { onAbandoned: (job) => void abandoned.push(job) },
    );
    await waitFor(() => seen.length === 1, { what: 'the valid job' });
    expect(seen).toEqual([`${runId}-0`]);
    expect(queue.counters.malformed).toBe(2);
    expect(abandoned.map((j) => j.id)).toEqual(['some-run-0']);
    await waitFor(async () => (await raw.xlen(stream)) === 0, { what: 'entries deleted' });
    await consumer.close();
  });

  it('hands a payload that is not JSON to the processor as text (it fails it as invalid)', async () => {
    const queue = makeQueue();
    const raw = client();
    const { stream, jobs } = queue.keys[0]!;
    const id = await raw.xadd(
      stream,
      '*',
      'j',
      'r-0',
      'a',
      '0',
      's',
      '0',
      'm',
      '1',
      'b',
      '10',
      'r',
      '0',
      'd',
      '{not json',
    );
    await raw.hset(jobs, 'r-0', `s:${id}`);
    const data: unknown[] = [];
    const consumer = queue.consume(async (job) => {
      data.push(job.data);
    });
    await waitFor(() => data.length === 1, { what: 'delivery' });
    expect(data[0]).toBe('{not json');
    await consumer.close();
  });

  it('survives Redis restarting empty: missing() reports the lost jobs, and jobs added again run', async () => {
    const queue = makeQueue();
    const seen: string[] = [];
    const consumer = queue.consume(async (job) => {
      seen.push(job.id);
    });
    const before = randomUUID();
    await queue.add([jobData(before, 0)], ONCE);
    await waitFor(() => seen.length === 1, { what: 'first job' });

    // Jobs waiting when Redis loses everything: the repair sweep's check finds them missing.
    const lost = randomUUID();
    await consumer.close();
    await queue.add([jobData(lost, 0, 2), jobData(lost, 1, 2)], ONCE);
    expect(await queue.missing([`${lost}-0`, `${lost}-1`])).toEqual([]);
    await redis.restart({ empty: true });
    await waitFor(
      async () => (await queue.missing([`${lost}-0`, `${lost}-1`]).catch(() => [])).length === 2,
      {
        what: 'reported missing after the restart',
        timeoutMs: 10_000,
      },
    );
    const again = queue.consume(async (job) => {
      seen.push(job.id);
    });
    // The repair sweep adds them again; the consumer recreates its group and runs them.
    await queue.add([jobData(lost, 0, 2), jobData(lost, 1, 2)], ONCE);
    await waitFor(() => seen.length === 3, { what: 'the re-added jobs', timeoutMs: 10_000 });
    expect(seen.slice(1).sort()).toEqual([`${lost}-0`, `${lost}-1`]);
    await again.close();
  });

  it('keeps consuming across a Redis outage (connection errors are retried, not fatal)', async () => {
    const queue = makeQueue();
    const seen: string[] = [];
    const consumer = queue.consume(async (job) => {
      seen.push(job.id);
    });
    await redis.kill();
    await new Promise((r) => setTimeout(r, 300));
    await redis.restart({ empty: true });
    const runId = randomUUID();
    await waitFor(
      async () => {
        await queue.add([jobData(runId, 0)], ONCE).catch(() => {});
        return seen.includes(`${runId}-0`);
      },
      { what: 'a job after the outage', timeoutMs: 15_000, intervalMs: 200 },
    );
    await consumer.close();
  });

  it('rejects bad options and job options with a clear error', async () => {
    expect(() => redisShardQueue({ connection: client(), prefix: 'x', lockDurationMs: 0 })).toThrow(
      /lockDurationMs must be an integer >= 3, got 0/,
    );
    expect(() => redisShardQueue({ connection: client(), prefix: 'x', partitions: 65 })).toThrow(
      /queue partitions must be an integer in 1..64/,
    );
    const queue = makeQueue();
    await expect(
      queue.add([jobData(randomUUID(), 0)], { attempts: 0, backoffMs: 1 }),
    ).rejects.toThrow(/attempts must be an integer >= 1, got 0/);
  });
});
