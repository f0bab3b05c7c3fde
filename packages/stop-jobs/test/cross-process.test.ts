import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { NodeProcess, TestRedis } from '@x/testkit';
import { spawnNode, startRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type StopJobsMetrics, stopJobsStreams } from '../src/index.js';
import { pendingCount, readResults, resultsLength } from './support/streams.js';

const fixture = fileURLToPath(new URL('./fixtures/consumer.ts', import.meta.url));
let server: TestRedis;
let redis: Redis;
const children: NodeProcess[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
});
afterAll(async () => {
  redis.disconnect();
  await server.close();
});

async function worker(prefix: string, name: string, env: Record<string, string> = {}) {
  const child = await spawnNode(fixture, {
    REDIS_URL: server.url,
    PREFIX: prefix,
    CONSUMER: name,
    ...env,
  });
  children.push(child);
  return child;
}

async function metricsOf(child: NodeProcess): Promise<StopJobsMetrics> {
  const before = child.lines.length;
  child.send('metrics');
  await waitFor(() => child.lines.slice(before).some((l) => l.startsWith('METRICS ')));
  const line = child.lines.slice(before).find((l) => l.startsWith('METRICS '))!;
  return JSON.parse(line.slice('METRICS '.length));
}

/** Writes `n` stop jobs in pipelined chunks; resolves with their entry ids. */
async function produce(prefix: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; offset < n; offset += 1000) {
    const pipeline = redis.pipeline();
    for (let i = offset; i < Math.min(n, offset + 1000); i++) {
      pipeline.xadd(
        stopJobsStreams(prefix).jobs,
        '*',
        'run_id',
        randomUUID(),
        'reason',
        'user_request',
      );
    }
    for (const [error, id] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      ids.push(String(id));
    }
  }
  return ids;
}

async function handledCounts(prefix: string): Promise<Map<string, number>> {
  const hash = await redis.hgetall(`${prefix}:test:handled`);
  return new Map(Object.entries(hash).map(([id, n]) => [id, Number(n)]));
}

function expectOneResultPerEntry(results: { source_entry_id: string }[], ids: string[]) {
  const perEntry = new Map<string, number>();
  for (const r of results)
    perEntry.set(r.source_entry_id, (perEntry.get(r.source_entry_id) ?? 0) + 1);
  expect(perEntry.size).toBe(ids.length);
  expect(ids.every((id) => perEntry.get(id) === 1)).toBe(true);
}

describe('stop-jobs consumers in separate processes', () => {
  it('two consumers share 10,000 entries: each handled exactly once, one result per entry', async () => {
    const prefix = uniqueName('sj');
    const [a, b] = await Promise.all([worker(prefix, 'a'), worker(prefix, 'b')]);
    const ids = await produce(prefix, 10_000);
    await waitFor(async () => (await resultsLength(redis, prefix)) >= 10_000, {
      timeoutMs: 45_000,
      what: '10,000 results',
    });

    const handled = await handledCounts(prefix);
    expect(handled.size).toBe(10_000);
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    const results = await readResults(redis, prefix);
    expectOneResultPerEntry(results, ids);
    expect(results.every((r) => r.outcome === 'success' && r.error_code === '')).toBe(true);
    expect(await pendingCount(redis, prefix)).toBe(0);

    const [ma, mb] = await Promise.all([metricsOf(a!), metricsOf(b!)]);
    // Both replicas did part of the work, and together exactly all of it.
    expect(ma.handled.success).toBeGreaterThan(0);
    expect(mb.handled.success).toBeGreaterThan(0);
    expect(ma.handled.success + mb.handled.success).toBe(10_000);
  });

  it('a consumer SIGKILLed while holding pending entries: another claims and finishes them', async () => {
    const prefix = uniqueName('sj');
    const slow = {
      DELAY_MS: '5',
      CONCURRENCY: '4',
      CLAIM_MIN_IDLE_MS: '1500',
      CLAIM_INTERVAL_MS: '200',
    };
    const victim = await worker(prefix, 'victim', slow);
    const ids = await produce(prefix, 2000);
    await waitFor(async () => (await handledCounts(prefix)).size >= 200, {
      what: 'the victim to be mid-stream',
    });
    const survivor = await worker(prefix, 'survivor', slow);
    await victim.kill('SIGKILL');
    const held = (await redis.call(
      'XPENDING',
      stopJobsStreams(prefix).jobs,
      'stop-jobs',
      '-',
      '+',
      1000,
      'victim',
    )) as unknown[];
    expect(held.length).toBeGreaterThan(0);

    await waitFor(
      async () =>
        (await resultsLength(redis, prefix)) >= 2000 && (await pendingCount(redis, prefix)) === 0,
      {
        timeoutMs: 45_000,
        what: 'every entry to have a result',
      },
    );
    expectOneResultPerEntry(await readResults(redis, prefix), ids);
    const handled = await handledCounts(prefix);
    expect(handled.size).toBe(2000);
    const metrics = await metricsOf(survivor);
    expect(metrics.claimed).toBeGreaterThanOrEqual(held.length);
    // Re-handled at most the entries the victim held when it died (its batch in hand).
    expect([...handled.values()].filter((n) => n > 1).length).toBeLessThanOrEqual(held.length);
  });
});
