import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventLogKeys, redisEventLog } from '../src/index.js';
import { APPEND_RECORDS } from '../src/lua/append-records.js';
import { logEvent, withoutTtlStamp } from './helpers.js';

// The append records live in the run's counter (lua/append-records.ts): bounded, readable by
// the counter format before them, and never confused by an origin's characters.

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

function setup() {
  const prefix = uniqueName('rec');
  const log = redisEventLog({ redis: client, prefix, publish: false });
  const runId = randomUUID();
  const entry = (m: string) => ({
    type: 'log' as const,
    json: JSON.stringify({ type: 'log', runId, ...logEvent(m) }),
  });
  const opts = (origin: string, n: number) => ({
    floor: 0,
    historyLimit: 1_000,
    ttlMs: 60_000,
    token: { origin, n },
  });
  return { log, runId, entry, opts, keys: eventLogKeys(prefix, runId) };
}

describe('append records in the run counter', () => {
  it('keeps the last APPEND_RECORDS origins: a resend behind fewer others is answered, the counter stays bounded', async () => {
    const { log, runId, entry, opts, keys } = setup();
    await log.begin(runId, 60_000);
    const first = await log.appendMany(runId, [entry('a')], opts('first', 1));
    // APPEND_RECORDS - 1 other origins append: 'first' is still among the last APPEND_RECORDS.
    for (let i = 1; i < APPEND_RECORDS; i++)
      await log.appendMany(runId, [entry(`o${i}`)], opts(`other-${i}`, 1));
    expect(await log.appendMany(runId, [entry('a')], opts('first', 1))).toEqual(first);
    expect((await log.head(runId))?.seq).toBe(APPEND_RECORDS);
    // Many more origins: only the most recent APPEND_RECORDS records stay.
    for (let i = APPEND_RECORDS; i < 3 * APPEND_RECORDS; i++)
      await log.appendMany(runId, [entry(`o${i}`)], opts(`other-${i}`, 1));
    const counter = withoutTtlStamp(await client.get(keys.seq));
    expect(counter.split(';')).toHaveLength(APPEND_RECORDS + 1);
    expect(counter).toContain(`;other-${3 * APPEND_RECORDS - 1}=1:`);
    expect(counter).not.toContain(';first=');
    // The head still reads right.
    expect((await log.head(runId))?.seq).toBe(3 * APPEND_RECORDS);
  });

  it("replaces an origin's record, so one origin holds one record whatever it appends", async () => {
    const { log, runId, entry, opts, keys } = setup();
    await log.begin(runId, 60_000);
    for (let n = 1; n <= 5; n++)
      await log.appendMany(runId, [entry('x'), entry('y')], opts('o', n));
    await log.appendMany(runId, [entry('z')], opts('p', 1));
    const epoch = (await log.head(runId))!.epoch;
    expect(withoutTtlStamp(await client.get(keys.seq))).toBe(`${epoch}:0:l11;p=1:11:1;o=5:9:2`);
  });

  it('reads a counter of the version before (no records) as the same epoch, and ignores its append keys', async () => {
    const { log, runId, entry, opts, keys } = setup();
    await log.begin(runId, 60_000);
    const first = await log.appendMany(runId, [entry('a'), entry('b')], opts('o', 1));
    // As that version left it: the counter alone, the record in its own key.
    await client.set(keys.seq, `${first.epoch}:0:l2`);
    await client.set(`${keys.seq.replace(/:seq$/, '')}:append:o`, `2:${first.epoch}:3:1`);
    const next = await log.appendMany(runId, [entry('c')], opts('o', 2));
    expect(next).toEqual({ epoch: first.epoch, seqs: [3] });
    expect((await log.read(runId, 0, 10)).events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("with epochPerPrimary: the records follow the writer's id, and another primary's counter takes them with it", async () => {
    const { runId, entry, opts, keys } = setup();
    const log = redisEventLog({
      redis: client,
      prefix: keys.seq.split(':run:')[0]!,
      publish: false,
      epochPerPrimary: true,
    });
    const replid = /master_replid:(\w+)/.exec(await client.info('replication'))![1]!;
    await log.begin(runId, 60_000);
    const first = await log.appendMany(runId, [entry('a'), entry('b')], opts('o', 1));
    expect(withoutTtlStamp(await client.get(keys.seq))).toBe(
      `${first.epoch}:0:l2:${replid};o=1:1:2`,
    );
    expect(await log.appendMany(runId, [entry('a'), entry('b')], opts('o', 1))).toEqual(first);
    // Written by another primary: a new epoch, where the same batch is appended anew.
    await client.set(keys.seq, `${first.epoch}:0:l2:${'f'.repeat(40)};o=1:1:2`);
    const again = await log.appendMany(runId, [entry('a'), entry('b')], opts('o', 1));
    expect(again.epoch).not.toBe(first.epoch);
    expect(again.seqs[0]).toBeGreaterThan(2);
    expect(withoutTtlStamp(await client.get(keys.seq))).toBe(
      `${again.epoch}:${again.seqs[0]! - 1}:l${again.seqs[1]}:${replid};o=1:${again.seqs[0]}:2`,
    );
  });

  it('refuses an origin that could be read as record separators', async () => {
    const { log, runId, entry, opts } = setup();
    await log.begin(runId, 60_000);
    for (const origin of ['a;b', 'a=b', 'a:b', '', 'x'.repeat(33)])
      await expect(log.appendMany(runId, [entry('a')], opts(origin, 1))).rejects.toThrow(
        /bad append origin/,
      );
    expect((await log.head(runId))?.seq).toBe(0);
  });
});
