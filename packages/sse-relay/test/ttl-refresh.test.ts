import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventLogKeys } from '../src/event-log-keys.js';
import { type NewStoredEvent, redisEventLog } from '../src/index.js';

// The append script refreshes a run's TTLs (counter and history together) only every eighth
// of the TTL, on a new epoch and on the `done`; other appends keep both. The log's clock is
// the test's, so "time passes" without waiting; the keys' remaining TTLs are set by hand to
// tell a refresh (back to the full TTL) from none.

const TTL = 80_000;
let redis: TestRedis;
let admin: Redis;
let client: Redis;
const prefix = uniqueName('ttl');
let clock = 0;
const log = () => redisEventLog({ redis: client, prefix, now: () => clock });

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  client = new Redis(redis.url);
});
afterAll(async () => {
  admin.disconnect();
  client.disconnect();
  await redis.close();
});
beforeEach(() => {
  clock = 1_700_000_000_000;
});

const event = (type: NewStoredEvent['type'] = 'log'): NewStoredEvent[] => [
  { type, json: JSON.stringify({ type, message: 'm' }) },
];
const opts = { floor: 0, historyLimit: 100, ttlMs: TTL, doneTtlMs: 5_000 };

/** Both keys' remaining TTLs, in ms. */
async function ttls(runId: string): Promise<[number, number]> {
  const { seq, history } = eventLogKeys(prefix, runId);
  return [await admin.pttl(seq), await admin.pttl(history)];
}
/** Sets both keys' remaining TTLs, as if time had passed since their last refresh. */
async function age(runId: string, remainingMs: number) {
  const { seq, history } = eventLogKeys(prefix, runId);
  await admin.pexpire(seq, remainingMs);
  await admin.pexpire(history, remainingMs);
}
const refreshed = (t: [number, number]) => t.every((ms) => ms > TTL - 5_000 && ms <= TTL);
const kept = (t: [number, number]) => t.every((ms) => ms > 0 && ms <= 50_000);

describe('redis event log: TTL refreshes', () => {
  it('the first append sets both TTLs; the next ones keep them until an eighth of the TTL passed', async () => {
    const l = log();
    const runId = randomUUID();
    await l.begin(runId, TTL);
    await l.appendMany(runId, event(), opts);
    expect(refreshed(await ttls(runId))).toBe(true);

    await age(runId, 50_000);
    clock += TTL / 8 - 1;
    await l.appendMany(runId, event(), opts);
    expect(kept(await ttls(runId))).toBe(true);

    clock += 1;
    await l.appendMany(runId, event(), opts);
    expect(refreshed(await ttls(runId))).toBe(true);
    // Nothing was lost on the way: three events, one per append.
    expect((await l.read(runId, 0, 10)).events.map((e) => e.seq)).toHaveLength(3);
  });

  it('the done sets the done TTL on both keys at once', async () => {
    const l = log();
    const runId = randomUUID();
    await l.appendMany(runId, event(), opts);
    await age(runId, 50_000);
    await l.appendMany(runId, event('done'), opts);
    const t = await ttls(runId);
    expect(t.every((ms) => ms > 0 && ms <= 5_000)).toBe(true);
  });

  it('an appender whose clock is behind the stamp refreshes (a skewed clock never stretches it)', async () => {
    const l = log();
    const runId = randomUUID();
    await l.appendMany(runId, event(), opts);
    await age(runId, 50_000);
    clock -= 1;
    await l.appendMany(runId, event(), opts);
    expect(refreshed(await ttls(runId))).toBe(true);
  });

  it('a new epoch (the counter was lost) sets the TTLs of the rebuilt history', async () => {
    const l = log();
    const runId = randomUUID();
    await l.appendMany(runId, event(), opts);
    await age(runId, 50_000);
    await admin.del(eventLogKeys(prefix, runId).seq);
    const { epoch } = await l.appendMany(runId, event(), { ...opts, floor: 5 });
    expect(epoch).toMatch(/\w/);
    expect(refreshed(await ttls(runId))).toBe(true);
  });
});
