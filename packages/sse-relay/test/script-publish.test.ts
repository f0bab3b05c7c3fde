import { randomUUID } from 'node:crypto';
import {
  createBus,
  createOrigin,
  decodeEnvelope,
  encodeEnvelope,
  redisTransport,
} from '@x/pubsub-core';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunEvents, type RunEvent, redisEventLog, runEventsChannel } from '../src/index.js';
import { logEvent, withoutTtlStamp } from './helpers.js';

let redis: TestRedis;
const cleanup: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
  await redis.close();
});

// Gap filling from the history would hide a missing publish: make it far slower than a test.
const NO_GAP_FILL = { gapTimeoutMs: 60_000, catchUpIntervalMs: 60_000 };

async function node(prefix: string, sharded = false) {
  const client = new Redis(redis.url);
  const bus = createBus({ transport: redisTransport({ url: redis.url, sharded }), prefix });
  await bus.ready();
  const events = createRunEvents({
    bus,
    log: redisEventLog({ redis: client, prefix, sharded }),
    ...NO_GAP_FILL,
  });
  cleanup.push(async () => {
    await events.close();
    await bus.close();
    client.disconnect();
  });
  return { bus, events };
}

/** A plain connection for reading and writing keys behind the log's back. */
function adminClient() {
  const admin = new Redis(redis.url);
  cleanup.push(() => admin.disconnect());
  return admin;
}

/** A plain subscriber collecting the raw messages of a channel. */
async function rawSubscriber(channel: string, sharded = false) {
  const sub = new Redis(redis.url);
  cleanup.push(() => sub.disconnect());
  const messages: string[] = [];
  sub.on(sharded ? 'smessage' : 'message', (_ch: string, message: string) =>
    messages.push(message),
  );
  if (sharded) await sub.ssubscribe(channel);
  else await sub.subscribe(channel);
  return messages;
}

describe('publishing from the append script', () => {
  it('publishes an emitted batch as one pubsub-core v3 envelope carrying every event with its seq', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    const channel = `${prefix}:run:{${runId}}:events`;
    const raw = await rawSubscriber(channel);
    const local: RunEvent[] = [];
    (await a.events.listen(runId, null, (e) => local.push(e))).start();
    const seqs = await a.events.emitMany(runId, [
      { type: 'status', payload: { status: 'running' } },
      { type: 'log', payload: logEvent('one') },
      { type: 'log', payload: logEvent('two') },
    ]);
    expect(seqs).toEqual([1, 2, 3]);
    // The emitting process is served from the script's reply, not from its own echo.
    expect(local.map((e) => e.seq)).toEqual([1, 2, 3]);
    await waitFor(() => raw.length >= 1, { what: 'the published batch' });
    expect(raw).toHaveLength(1);
    const decoded = decodeEnvelope(raw[0]!, { maxBytes: runEventsChannel.maxBytes! });
    if (!decoded.ok) throw new Error(decoded.detail);
    expect(decoded.envelope).toMatchObject({ v: 3, origin: a.bus.origin, channel });
    // Byte for byte what pubsub-core's encoder writes (and older relays decode).
    expect(raw[0]).toBe(encodeEnvelope(decoded.envelope));
    const payload = runEventsChannel.parse(decoded.envelope.payload);
    if (!payload.ok) throw new Error(payload.detail);
    expect(payload.value.map((w) => `${w.seq}:${w.event.type}`)).toEqual([
      '1:status',
      '2:log',
      '3:log',
    ]);
    expect(a.bus.metrics().published).toBe(0);
  });

  it('delivers to another process without the history: one message per batch, validated by its bus', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix);
    const b = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    const got: RunEvent[] = [];
    (await b.events.listen(runId, null, (e) => got.push(e))).start();
    await a.events.emit(runId, 'status', { status: 'running' });
    await a.events.emitMany(runId, [
      { type: 'log', payload: logEvent('x') },
      { type: 'log', payload: logEvent('y') },
    ]);
    await waitFor(() => got.length === 3, { what: '3 events', timeoutMs: 5_000 });
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(got[1]!.json).toBe(JSON.stringify({ type: 'log', runId, ...logEvent('x') }));
    expect(b.bus.metrics().received).toBe(2);
    expect(b.events.metrics().gapsFilled).toBe(0);
  });

  it('drops a version-1 message and counts it as version, as the bus does for any old contract', async () => {
    const prefix = uniqueName('sp');
    const b = await node(prefix);
    const admin = adminClient();
    const runId = randomUUID();
    await b.events.begin(runId);
    const channel = `${prefix}:run:{${runId}}:events`;
    const got: RunEvent[] = [];
    (await b.events.listen(runId, null, (e) => got.push(e))).start();
    const v1 = encodeEnvelope({
      v: 1,
      origin: createOrigin(),
      channel,
      ts: Date.now(),
      payload: { seq: 1, type: 'status', runId, data: { status: 'running' } },
    });
    await admin.publish(channel, v1);
    await waitFor(() => b.bus.metrics().dropped.version === 1, { what: 'v1 dropped' });
    expect(got).toEqual([]);
  });

  it('serves every RunEvents sharing the emitting bus from the reply (their own echo is dropped)', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix);
    const client = new Redis(redis.url);
    cleanup.push(() => client.disconnect());
    const sibling = createRunEvents({
      bus: a.bus,
      log: redisEventLog({ redis: client, prefix }),
      ...NO_GAP_FILL,
    });
    cleanup.push(() => sibling.close());
    const runId = randomUUID();
    await a.events.begin(runId);
    const got: RunEvent[] = [];
    (await sibling.listen(runId, null, (e) => got.push(e))).start();
    await a.events.emit(runId, 'log', logEvent('shared bus'));
    expect(got.map((e) => e.seq)).toEqual([1]);
  });

  it('splits a batch larger than the channel limit into several messages, every one delivered', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix);
    const b = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    const raw = await rawSubscriber(`${prefix}:run:{${runId}}:events`);
    const got: RunEvent[] = [];
    (await b.events.listen(runId, null, (e) => got.push(e))).start();
    const big = 'x'.repeat(80 * 1024);
    await a.events.emitMany(
      runId,
      Array.from({ length: 5 }, (_, i) => ({
        type: 'log' as const,
        payload: logEvent(`${i}${big}`),
      })),
    );
    await waitFor(() => got.length === 5, { what: '5 big events', timeoutMs: 5_000 });
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    // The raw subscriber is its own connection: its copies may land after b's.
    await waitFor(() => raw.length >= 2, { what: 'the batch split in two or more messages' });
    for (const message of raw) {
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(runEventsChannel.maxBytes!);
    }
  });

  it('uses SPUBLISH from the script when the bus is sharded', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix, true);
    const b = await node(prefix, true);
    const runId = randomUUID();
    await a.events.begin(runId);
    const raw = await rawSubscriber(`${prefix}:run:{${runId}}:events`, true);
    const got: RunEvent[] = [];
    (await b.events.listen(runId, null, (e) => got.push(e))).start();
    await a.events.emitMany(runId, [
      { type: 'log', payload: logEvent('s1') },
      { type: 'log', payload: logEvent('s2') },
    ]);
    await waitFor(() => got.length === 2, { what: 'sharded delivery', timeoutMs: 5_000 });
    expect(got.map((e) => e.seq)).toEqual([1, 2]);
    await waitFor(() => raw.length >= 1, { what: 'the sharded publish' });
    expect(raw).toHaveLength(1);
  });
});

describe('the run counter and its epoch', () => {
  const done = { status: 'completed' as const, passed: 1, failed: 0, total: 1, durationMs: 5 };

  it('carries the epoch, base, seq and done mark, so an append reads one key', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix);
    const admin = adminClient();
    const runId = randomUUID();
    const key = `${prefix}:run:{${runId}}:seq`;
    await a.events.begin(runId);
    const epoch = (await admin.get(key))!.split(':')[0]!;
    expect(await admin.get(key)).toBe(`${epoch}:0:l0`);
    await a.events.emitMany(runId, [
      { type: 'log', payload: logEvent('1') },
      { type: 'log', payload: logEvent('2') },
    ]);
    // Then the emitter's append record (append-records.ts): its token, first seq and count.
    expect(withoutTtlStamp(await admin.get(key))).toMatch(
      new RegExp(`^${epoch}:0:l2;[\\w-]+=\\d+:1:2$`),
    );
    await a.events.emit(runId, 'done', done);
    const finished = await admin.get(key);
    expect(withoutTtlStamp(finished)).toMatch(new RegExp(`^${epoch}:0:d3;[\\w-]+=\\d+:3:1$`));
    expect(await a.events.emit(runId, 'log', logEvent('late'))).toBe(0);
    // begin again (an enqueue retried): nothing changes.
    await a.events.begin(runId);
    expect(await admin.get(key)).toBe(finished);
  });

  it('starts a new epoch above the clock and every old seq when the counter is gone', async () => {
    const prefix = uniqueName('sp');
    const a = await node(prefix);
    const admin = adminClient();
    const runId = randomUUID();
    const key = `${prefix}:run:{${runId}}:seq`;
    await a.events.begin(runId);
    for (let i = 1; i <= 3; i++) await a.events.emit(runId, 'log', logEvent(String(i)));
    const first = (await admin.get(key))!.split(':')[0];
    // Lost (evicted, or an older version's plain number): a new epoch, its history rebuilt.
    await admin.set(key, '3');
    const before = (Date.now() - 1_700_000_000_000) * 1000;
    const seq = await a.events.emit(runId, 'log', logEvent('4'));
    const [epoch, base] = (await admin.get(key))!.split(':');
    expect(epoch).not.toBe(first);
    expect(seq).toBe(Number(base) + 1);
    // Microseconds since 2023-11-14 by Redis's clock (the same machine's clock here).
    expect(Number(base)).toBeGreaterThan(before - 5_000_000);
    expect(await admin.xlen(`${prefix}:run:{${runId}}:history`)).toBe(1);
    // A seq that high survives Lua's number formatting exactly, in the history and the id.
    const last = await a.events.lastEvent(runId);
    expect(last).toMatchObject({ seq, epoch });
  });

  it('with epochPerPrimary, keeps the epoch on its primary and starts a new one when another primary wrote the counter', async () => {
    const prefix = uniqueName('sp');
    const admin = adminClient();
    const client = new Redis(redis.url);
    cleanup.push(() => client.disconnect());
    const log = redisEventLog({ redis: client, prefix, publish: false, epochPerPrimary: true });
    const runId = randomUUID();
    const key = `${prefix}:run:{${runId}}:seq`;
    const opts = { floor: 0, historyLimit: 100, ttlMs: 60_000 };
    const entry = (m: string) => ({ type: 'log' as const, json: JSON.stringify(logEvent(m)) });
    await log.begin(runId, 60_000);
    const replid = /master_replid:(\w+)/.exec(await admin.info('replication'))![1]!;
    const first = await log.appendMany(runId, [entry('1'), entry('2')], opts);
    expect(first.seqs).toEqual([1, 2]);
    expect(withoutTtlStamp(await admin.get(key))).toBe(`${first.epoch}:0:l2:${replid}`);
    // Its own primary: the same epoch goes on.
    expect((await log.appendMany(runId, [entry('3')], opts)).seqs).toEqual([3]);
    // A counter another primary wrote (this server is a promoted replica, say, that may lack
    // a tail clients saw): unreadable, so the next append starts a new epoch above every id.
    await admin.set(key, `${first.epoch}:0:l3:${'f'.repeat(40)}`);
    expect(await log.head(runId)).toBeUndefined();
    const after = await log.appendMany(runId, [entry('4')], opts);
    expect(after.epoch).not.toBe(first.epoch);
    expect(after.seqs[0]).toBeGreaterThan(1_000_000);
    // begin on such a counter never restarts the ids at 1.
    await admin.set(key, `${after.epoch}:0:l3:${'f'.repeat(40)}`);
    await log.begin(runId, 60_000);
    expect(await admin.get(key)).toBe(`${after.epoch}:0:l3:${'f'.repeat(40)}`);
  });
});
