import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY_EVENTS, entryEvents } from '../src/history-entry.js';
import { type EventLog, memoryEventLog, type NewStoredEvent, redisEventLog } from '../src/index.js';

// A run's history stores one entry per appended batch. Both logs must keep, trim and read
// exactly the same events, so every check here runs the same appends on both and compares.

let redis: TestRedis;
let admin: Redis;
let client: Redis;
const prefix = uniqueName('hb');
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

const logs = (): { memory: EventLog; redis: EventLog } => ({
  memory: memoryEventLog(),
  redis: redisEventLog({ redis: client, prefix }),
});
const batch = (from: number, n: number): NewStoredEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    type: 'log',
    json: JSON.stringify({ type: 'log', message: `m${from + i}` }),
  }));
const opts = (historyLimit: number) => ({ floor: 0, historyLimit, ttlMs: 60_000 });

/** The run's history stream, found by type so the test does not depend on key names. */
async function historyKey(runId: string): Promise<string> {
  for (const key of await admin.keys(`${prefix}*${runId}*`))
    if ((await admin.type(key)) === 'stream') return key;
  throw new Error(`no history stream for ${runId}`);
}

/** Appends batches of the given sizes; returns what every resume point reads. */
async function appendAndReadAll(log: EventLog, runId: string, sizes: number[], limit: number) {
  await log.begin(runId, 60_000);
  let n = 0;
  for (const size of sizes) {
    await log.appendMany(runId, batch(n + 1, size), opts(limit));
    n += size;
  }
  const reads: Array<{ after: number; seqs: number[]; messages: string[] }> = [];
  for (let after = 0; after <= n; after++) {
    const { events } = await log.read(runId, after, n);
    reads.push({
      after,
      seqs: events.map((e) => e.seq),
      messages: events.map((e) => JSON.parse(e.json).message),
    });
  }
  return { n, reads };
}

describe('the history in batch entries', () => {
  it('stores one batch as one stream entry, keyed by its first seq, and expands it on read', async () => {
    const log = logs().redis;
    const runId = randomUUID();
    await log.begin(runId, 60_000);
    await log.appendMany(runId, batch(1, 3), opts(100));
    const { seqs } = await log.appendMany(runId, batch(4, 10), opts(100));
    expect(seqs).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const entries = await admin.xrange(await historyKey(runId), '-', '+');
    expect(entries.map(([id, fields]) => [id, fields.length])).toEqual([
      ['1-0', 6],
      ['4-0', 20],
    ]);
    // A resume inside the second entry gets only the events after it.
    const { events } = await log.read(runId, 6, 100);
    expect(events.map((e) => e.seq)).toEqual([7, 8, 9, 10, 11, 12, 13]);
    expect(JSON.parse(events[0]!.json).message).toBe('m7');
    const last = await log.last(runId);
    expect(last.events.map((e) => [e.seq, JSON.parse(e.json).message])).toEqual([[13, 'm13']]);
  });

  it('splits a batch above ENTRY_EVENTS into entries of at most that many', async () => {
    const log = logs().redis;
    const runId = randomUUID();
    await log.begin(runId, 60_000);
    const size = ENTRY_EVENTS * 2 + 5;
    await log.appendMany(runId, batch(1, size), opts(10_000));
    const entries = await admin.xrange(await historyKey(runId), '-', '+');
    expect(entries.map(([id, fields]) => [id, fields.length / 2])).toEqual([
      ['1-0', ENTRY_EVENTS],
      [`${ENTRY_EVENTS + 1}-0`, ENTRY_EVENTS],
      [`${2 * ENTRY_EVENTS + 1}-0`, 5],
    ]);
    const { events } = await log.read(runId, 0, size);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: size }, (_, i) => i + 1));
  });

  it.each([
    { what: 'mixed batches', sizes: [3, 7, 1, 5, 9, 2, 4, 8], limit: 10 },
    { what: 'single events', sizes: Array(15).fill(1), limit: 5 },
    { what: 'a batch larger than the limit', sizes: [2, 25, 3], limit: 10 },
    { what: 'the limit below the entry size', sizes: [4, 4, 4], limit: 3 },
  ])(
    'keeps every one of the last historyLimit events, trims whole entries, and both logs read alike ($what)',
    async ({ sizes, limit }) => {
      const runId = randomUUID();
      const results: Record<string, Awaited<ReturnType<typeof appendAndReadAll>>> = {};
      for (const [name, log] of Object.entries(logs())) {
        results[name] = await appendAndReadAll(log, runId, sizes, limit);
        await log.close();
      }
      expect(results.redis).toEqual(results.memory);
      const { n, reads } = results.memory!;
      // Every resume within the last `limit` events reads exactly what follows it.
      for (const { after, seqs } of reads.filter((r) => r.after >= n - limit))
        expect(seqs).toEqual(Array.from({ length: n - after }, (_, i) => after + 1 + i));
      // Older events are trimmed in whole entries: at most an entry's worth beyond the limit.
      const kept = reads[0]!.seqs.length;
      expect(kept).toBeGreaterThanOrEqual(Math.min(limit, n));
      expect(kept).toBeLessThanOrEqual(limit + entryEvents(limit) - 1);
      expect(reads[0]!.seqs.at(-1)).toBe(n);
    },
  );

  it('reads a limited count from inside an entry, as the memory log does', async () => {
    const runId = randomUUID();
    const reads: Record<string, number[][]> = {};
    for (const [name, log] of Object.entries(logs())) {
      await log.begin(runId, 60_000);
      await log.appendMany(runId, batch(1, 6), opts(100));
      await log.appendMany(runId, batch(7, 6), opts(100));
      reads[name] = [];
      for (const [after, limit] of [
        [2, 3],
        [4, 5],
        [0, 1],
        [11, 4],
        [12, 4],
      ] as const)
        reads[name].push((await log.read(runId, after, limit)).events.map((e) => e.seq));
      await log.close();
    }
    expect(reads.memory).toEqual([[3, 4, 5], [5, 6, 7, 8, 9], [1], [12], []]);
    expect(reads.redis).toEqual(reads.memory);
  });

  it('reads an older version’s one-event entries alongside batch entries', async () => {
    const log = logs().redis;
    const runId = randomUUID();
    await log.begin(runId, 60_000);
    await log.appendMany(runId, batch(1, 1), opts(100));
    const key = await historyKey(runId);
    // What the previous version wrote: one entry per event, fields t and d.
    await admin.del(key);
    const old = (seq: number) =>
      admin.xadd(
        key,
        `${seq}-0`,
        't',
        'log',
        'd',
        JSON.stringify({ type: 'log', message: `m${seq}` }),
      );
    await old(1);
    await log.appendMany(runId, batch(2, 3), opts(100));
    const { events } = await log.read(runId, 0, 100);
    expect(events.map((e) => [e.seq, JSON.parse(e.json).message])).toEqual([
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
      [4, 'm4'],
    ]);
    expect(log.metrics().malformed).toBe(0);
  });

  it('starts a rebuilt epoch above the last event of the last batch, not its first', async () => {
    const log = logs().redis;
    const runId = randomUUID();
    // A floor far above the clock: the clock cannot hide a base taken from the wrong seq.
    const floor = 2 * Date.now() * 1000;
    await log.appendMany(runId, batch(1, 5), { ...opts(100), floor });
    const before = await log.head(runId);
    expect(before?.seq).toBe(floor + 5);
    // The counter is lost but the history stays (an eviction of one key).
    for (const key of await admin.keys(`${prefix}*${runId}*`))
      if ((await admin.type(key)) === 'string') await admin.del(key);
    const { epoch, seqs } = await log.appendMany(runId, batch(6, 1), opts(100));
    expect(epoch).not.toBe(before?.epoch);
    expect(seqs[0]).toBeGreaterThan(before!.seq);
  });
});
