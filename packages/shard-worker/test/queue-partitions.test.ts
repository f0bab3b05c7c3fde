import { randomUUID } from 'node:crypto';
import { keySlot, startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmqShardQueue } from '../src/bullmq-shard-queue.js';
import { partitionOf, partitionQueueNames, runIdOfJob } from '../src/queue-partitions.js';
import { jobData } from './shard-queue-contract.js';

describe('queue partition names', () => {
  it('keeps the single-node names with one partition: prefix x, queue runs', () => {
    expect(partitionQueueNames('x', 1, { tagged: false })).toEqual([{ prefix: 'x', name: 'runs' }]);
  });

  it('puts partition i of n in the middle of the i-th of n equal slot ranges, for any prefix', () => {
    for (const prefix of ['x', 'prod', uniqueName('d')]) {
      for (const n of [1, 2, 3, 5, 16, 64]) {
        const names = partitionQueueNames(prefix, n, { tagged: true });
        expect(names).toHaveLength(n);
        names.forEach(({ prefix: tag, name }, i) => {
          expect(name).toBe('runs');
          expect(tag).toMatch(new RegExp(`^\\{${prefix}:q${i}(\\.\\d+)?\\}$`));
          // BullMQ keys are `${prefix}:${name}:…`: all of a queue's keys share the tag's slot.
          const slot = keySlot(`${tag}:runs:wait`);
          expect(keySlot(`${tag}:runs:active`)).toBe(slot);
          const width = 16_384 / n;
          expect(slot).toBeGreaterThanOrEqual(i * width + width / 4);
          expect(slot).toBeLessThan((i + 1) * width - width / 4);
        });
      }
    }
  });

  it('lands three partitions on the three primaries of a default 3-primary cluster', () => {
    const ranges = [
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ] as const;
    const slots = partitionQueueNames('x', 3, { tagged: true }).map((q) => keySlot(q.prefix));
    slots.forEach((slot, i) => {
      expect(slot).toBeGreaterThanOrEqual(ranges[i]![0]);
      expect(slot).toBeLessThanOrEqual(ranges[i]![1]);
    });
  });

  it('keeps a braced prefix (one slot asked for) and splits by queue name', () => {
    expect(partitionQueueNames('{x}', 2, { tagged: true })).toEqual([
      { prefix: '{x}', name: 'runs-q0' },
      { prefix: '{x}', name: 'runs-q1' },
    ]);
  });

  it('refuses a partition count outside 1..64', () => {
    for (const n of [0, 65, 1.5, Number.NaN]) {
      expect(() => partitionQueueNames('x', n, { tagged: false })).toThrow(/1\.\.64/);
    }
  });

  it('maps a run to one stable partition, spread evenly over random run ids', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3_000; i++) counts[partitionOf(randomUUID(), 3)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    const id = randomUUID();
    expect(partitionOf(id, 7)).toBe(partitionOf(id, 7));
    expect(partitionOf(id, 1)).toBe(0);
    expect(runIdOfJob(`${id}-12`)).toBe(id);
  });
});

describe('a partitioned BullMQ shard queue on one server', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis.close();
  });
  const connect = () => {
    const c = new Redis(redis.url, { maxRetriesPerRequest: null });
    clients.push(c);
    return c;
  };

  it('puts each run in its partition’s queue, and one consumer takes from all of them within one concurrency budget', async () => {
    const prefix = uniqueName('pq');
    const queue = bullmqShardQueue({ connection: connect(), prefix, partitions: 3 });
    const runs = Array.from({ length: 12 }, () => randomUUID());
    await queue.add(
      runs.flatMap((r) => [jobData(r, 0, 2), jobData(r, 1, 2)]),
      { attempts: 1, backoffMs: 10 },
    );
    const probe = connect();
    const waiting = await Promise.all(queue.queueNames.map((q) => probe.llen(`${q}:wait`)));
    const expected = [0, 1, 2].map((p) => runs.filter((r) => partitionOf(r, 3) === p).length * 2);
    expect(waiting).toEqual(expected);
    expect(waiting.filter((n) => n > 0).length).toBeGreaterThan(1);

    let active = 0;
    let peak = 0;
    const seen = new Set<string>();
    const consumer = queue.consume(
      async (job) => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 30));
        active--;
        seen.add(job.id);
      },
      { concurrency: 2 },
    );
    await waitFor(() => seen.size === 24, { what: 'every job', timeoutMs: 20_000 });
    expect(peak).toBe(2);
    expect(consumer.active).toBe(0);
    await queue.close();
  });
});
