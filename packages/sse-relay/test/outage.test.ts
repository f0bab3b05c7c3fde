import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUFFERED_SEQ, type RunEvent, type RunEventsOptions } from '../src/index.js';
import { MAX_WAITING_EVENTS } from '../src/run-events.js';
import { type FakeRun, fakeRun, logEvent, startRelayServer } from './helpers.js';
import { processNode } from './process-node.js';
import { openSse } from './sse-client.js';

// Redis fails for real here: a private server with an append-only file, killed with SIGKILL
// and restarted with its data, or restarted empty.

let redis: TestRedis;
const cleanup: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  redis = await startRedis({ persistence: true });
});
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
  await redis.close();
});

/** A process: its own connections, as an api or worker has them (commands fail fast while down). */
const node = (prefix: string, opts: Partial<RunEventsOptions> = {}) =>
  processNode(redis.url, prefix, cleanup, opts);

const logs = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'log' as const,
    payload: logEvent(`m${from + i}`),
  }));

describe('events while Redis is away', () => {
  it('buffers events while Redis is down and appends them in order once it is back, before later ones', async () => {
    const prefix = uniqueName('out');
    const a = await node(prefix, { closeFlushTimeoutMs: 200 });
    const b = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    const got: RunEvent[] = [];
    (await b.events.listen(runId, null, (e) => got.push(e))).start();
    expect(await a.events.emitMany(runId, logs(5))).toEqual([1, 2, 3, 4, 5]);
    await waitFor(() => got.length === 5, { what: '5 live events' });

    await redis.kill();
    try {
      // Resolves (never rejects, never hangs): the events wait in this process, in order.
      for (let i = 6; i <= 10; i++) {
        expect(await a.events.emit(runId, 'log', logEvent(`m${i}`))).toBe(BUFFERED_SEQ);
      }
      expect(a.events.metrics()).toMatchObject({ eventsBuffered: 5, eventsFlushed: 0 });
      await new Promise((r) => setTimeout(r, 300));
      expect(a.events.metrics().oldestBufferedAgeMs).toBeGreaterThanOrEqual(250);
    } finally {
      await redis.restart(); // with its data: the epoch and the history are still there
    }
    await waitFor(() => a.events.metrics().eventsFlushed === 5, { what: 'the buffer flushed' });
    expect(await a.events.emit(runId, 'log', logEvent('m11'))).toBe(11);
    await waitFor(() => got.length === 11, { what: 'every event at the other process' });
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(got.map((e) => e.data)).toEqual(logs(11).map((l) => l.payload));
    expect(new Set(got.map((e) => e.epoch)).size).toBe(1);
    expect(a.events.metrics()).toMatchObject({
      eventsBuffered: 0,
      oldestBufferedAgeMs: 0,
      gapsDeclared: 0,
    });
  });

  it('past its bound drops the oldest run, declares its gap (recovered:false across it), keeps memory bounded and never throws', async () => {
    const prefix = uniqueName('out');
    const a = await node(prefix, { bufferMaxEvents: 200, bufferMaxBytes: 64 * 1024 });
    const [oldest, kept] = [randomUUID(), randomUUID()];
    for (const id of [oldest, kept]) await a.events.begin(id);
    await a.events.emitMany(oldest, logs(3));
    const held = (await a.log.head(oldest))!;
    await redis.kill();
    try {
      await a.events.emitMany(oldest, logs(150, 4));
      await a.events.emitMany(kept, logs(150));
      // A flood of other runs: the buffer stays within its bounds and nothing throws.
      const flood = Array.from({ length: 50 }, () => randomUUID());
      for (const id of flood) await a.events.emitMany(id, logs(40));
      const m = a.events.metrics();
      expect(m.eventsBuffered).toBeLessThanOrEqual(200);
      expect(m.bufferedBytes).toBeLessThanOrEqual(64 * 1024);
      expect(m.eventsDropped).toBe(150 + 150 + 50 * 40 - m.eventsBuffered);
    } finally {
      await redis.restart();
    }
    await waitFor(() => a.events.metrics().eventsBuffered === 0, { what: 'the buffer flushed' });
    // Every dropped run had its gap declared: 52 runs, minus those whose events were kept.
    expect(a.events.metrics().gapsDeclared).toBeGreaterThanOrEqual(2);
    const after = (await a.log.head(oldest))!;
    expect(after.epoch).not.toBe(held.epoch);
    expect(after.base).toBeGreaterThan(held.seq);
    // A client that held `3-<epoch>` gets recovered:false, never a contiguous-looking replay.
    const resume = await a.events.listen(oldest, { seq: 3, epoch: held.epoch }, () => {});
    expect(resume).toMatchObject({ recovered: false, replay: [] });
    resume.close();
    const bare = await a.events.listen(oldest, 3, () => {});
    expect(bare.recovered).toBe(false);
    bare.close();
  });

  it('events emitted behind a run’s append in flight to a dead Redis are held within the bound, in order', async () => {
    const prefix = uniqueName('out');
    const max = 100;
    const a = await node(prefix, { bufferMaxEvents: max });
    const runId = randomUUID();
    await a.events.begin(runId);
    await a.events.emitMany(runId, logs(3));
    const held = (await a.log.head(runId))!;
    const [batches, per] = [50, 20];
    const total = 1 + batches * per;
    const sent: Promise<number[]>[] = [];
    await redis.kill();
    try {
      sent.push(a.events.emitMany(runId, logs(1, 4)));
      // The coalescer sends on the next turn: that append is in flight now, and a dead server
      // answers it only after the client's reconnect attempts. Every emit below waits behind it.
      await new Promise((r) => setImmediate(r));
      for (let i = 0; i < batches; i++) sent.push(a.events.emitMany(runId, logs(per, 5 + i * per)));
      // Nothing waits outside the buffer's bound: it holds at most `max`, the rest is dropped.
      const m = a.events.metrics();
      expect(m.eventsBuffered).toBeLessThanOrEqual(max);
      expect(m.eventsBuffered + m.eventsDropped).toBeGreaterThanOrEqual(total - 1 - max);
      expect(await Promise.all(sent)).toEqual(
        sent.map((_, i) => Array(i === 0 ? 1 : per).fill(BUFFERED_SEQ)),
      );
      expect(a.events.metrics().eventsDropped).toBeGreaterThan(0);
    } finally {
      await redis.restart();
    }
    await waitFor(() => a.events.metrics().eventsBuffered === 0, { what: 'the buffer flushed' });
    // Every event is accounted for: flushed, or dropped behind the gap declared for the run.
    const m = a.events.metrics();
    expect(m.eventsFlushed + m.eventsDropped).toBe(total);
    expect(m.gapsDeclared).toBe(1);
    const after = (await a.log.head(runId))!;
    expect(after.epoch).not.toBe(held.epoch);
    // What the new epoch holds is the tail of what was emitted, in emit order.
    const { events } = await a.log.read(runId, after.base, total);
    const messages = events.map((e) => (JSON.parse(e.json) as { message: string }).message);
    const emitted = logs(total, 4).map((l) => l.payload.message);
    expect(messages).toEqual(emitted.slice(total - messages.length));
    expect(messages.length).toBe(m.eventsFlushed);
  });

  it('events handed to the buffer behind a failed append follow it: all in emit order, one epoch', async () => {
    const prefix = uniqueName('out');
    const a = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    await a.events.emitMany(runId, logs(3));
    const held = (await a.log.head(runId))!;
    const per = 20;
    // More than may wait behind an append in flight: the rest goes to the buffer meanwhile.
    const batches = Math.ceil(MAX_WAITING_EVENTS / per) + 5;
    const total = 1 + batches * per;
    const sent: Promise<number[]>[] = [];
    await redis.kill();
    try {
      sent.push(a.events.emitMany(runId, logs(1, 4)));
      await new Promise((r) => setImmediate(r)); // that append is in flight now
      for (let i = 0; i < batches; i++) sent.push(a.events.emitMany(runId, logs(per, 5 + i * per)));
      const m = a.events.metrics();
      expect(m.eventsBuffered).toBeGreaterThan(total - 1 - MAX_WAITING_EVENTS);
      expect(m.eventsDropped).toBe(0);
      await Promise.all(sent); // the first append failed: its event went to the buffer first
    } finally {
      await redis.restart();
    }
    await waitFor(() => a.events.metrics().eventsBuffered === 0, { what: 'the buffer flushed' });
    expect(a.events.metrics()).toMatchObject({
      eventsFlushed: total,
      eventsDropped: 0,
      gapsDeclared: 0,
    });
    const { head, events } = await a.log.read(runId, 0, total + 3);
    expect(head).toMatchObject({ epoch: held.epoch, seq: total + 3 });
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: total + 3 }, (_, i) => i + 1));
    const messages = events.map((e) => (JSON.parse(e.json) as { message: string }).message);
    expect(messages).toEqual(logs(total + 3).map((l) => l.payload.message));
  });

  it('after an empty restart a replica that never saw the run writes a new epoch above every id a client holds', async () => {
    const prefix = uniqueName('out');
    const a = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    await a.events.emitMany(runId, logs(13));
    const old = (await a.log.head(runId))!;
    expect(old).toMatchObject({ base: 0, seq: 13 });
    await redis.restart({ empty: true });
    // A process with no memory of the run (floor 0) writes first.
    const fresh = await node(prefix);
    const [seq] = await fresh.events.emitMany(runId, logs(1, 14));
    const now = (await fresh.log.head(runId))!;
    expect(now.epoch).not.toBe(old.epoch);
    expect(seq).toBe(now.base + 1);
    expect(seq).toBeGreaterThan(13);
    for (const after of [{ seq: 13, epoch: old.epoch }, { seq: 13 }, { seq: 0 }]) {
      const h = await fresh.events.listen(runId, after, () => {});
      expect(h.recovered, JSON.stringify(after)).toBe(false);
      expect(h.replay).toEqual([]);
      h.close();
    }
    const current = await fresh.events.listen(runId, { seq: now.base, epoch: now.epoch }, () => {});
    expect(current.recovered).toBe(false); // nothing was ever sent at the base itself
    current.close();
    const exact = await fresh.events.listen(runId, { seq: seq!, epoch: now.epoch }, () => {});
    expect(exact.recovered).toBe(true);
    exact.close();
  });
});

describe('SSE opens while Redis is away', () => {
  it('answers 200 with the snapshot from the store and a retry hint, or the done of a finished run to a client without an id', async () => {
    const prefix = uniqueName('out');
    const a = await node(prefix);
    const runs = new Map<string, FakeRun>();
    const server = await startRelayServer({ events: a.events, retryMs: 1500 }, runs);
    cleanup.push(() => server.close());
    const running = fakeRun();
    const finished = { ...fakeRun('ws1', 'completed'), passed: 10, durationMs: 40 };
    for (const run of [running, finished]) runs.set(run.id, run);
    await redis.kill();
    try {
      const ws1 = { 'x-workspace': 'ws1' };
      const live = await openSse(`${server.url}/runs/${running.id}/events`, {
        headers: { ...ws1, 'last-event-id': '7-abc' },
      });
      await live.ended;
      expect(live.status).toBe(200);
      expect(live.events).toEqual([
        // No event is sent, so the client keeps its id; the next connection replays after it.
        { type: 'snapshot', runId: running.id, run: running, recovered: true },
      ]);
      expect(live.frames.at(-1)).toEqual({ retry: 1500 });
      const done = await openSse(`${server.url}/runs/${finished.id}/events`, { headers: ws1 });
      await done.ended;
      expect(done.status).toBe(200);
      expect(done.events.map((e) => e.type)).toEqual(['snapshot', 'done']);
      expect(done.events[1]).toMatchObject({ status: 'completed', passed: 10 });
      // A client holding an id must not take a `done` from the snapshot for the end of its
      // stream: the events after its id are still to come, so it is asked back for them.
      const resumed = await openSse(`${server.url}/runs/${finished.id}/events`, {
        headers: { ...ws1, 'last-event-id': '3-abc' },
      });
      await resumed.ended;
      expect(resumed.status).toBe(200);
      expect(resumed.events).toEqual([
        { type: 'snapshot', runId: finished.id, run: finished, recovered: true },
      ]);
      expect(resumed.frames.at(-1)).toEqual({ retry: 1500 });
      expect(server.router.metrics().snapshotOnly).toBe(3);
    } finally {
      await redis.restart();
    }
  });
});
