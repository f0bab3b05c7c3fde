import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { createBus, redisTransport } from '@x/pubsub-core';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import type { RequestHandler } from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunEvents, type RunEvents, redisEventLog } from '../src/index.js';
import { prepareEvents } from '../src/prepare-events.js';
import { type FakeRun, fakeRun, logEvent, startRelayServer } from './helpers.js';
import { openSse } from './sse-client.js';

let redis: TestRedis;
let client: Redis;
let bus: ReturnType<typeof createBus>;
let events: RunEvents;
let server: Awaited<ReturnType<typeof startRelayServer>>;
const prefix = uniqueName('sse');
const runs = new Map<string, FakeRun>();
const ws1 = { 'x-workspace': 'ws1' };

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  bus = createBus({ transport: redisTransport({ url: redis.url }), prefix });
  await bus.ready();
  events = createRunEvents({
    bus,
    log: redisEventLog({ redis: client, prefix }),
    historyLimit: 50,
  });
  server = await startRelayServer({ events, heartbeatMs: 100, maxBufferedBytes: 256 * 1024 }, runs);
});
afterAll(async () => {
  await server.close();
  await events.close();
  await bus.close();
  client.disconnect();
  await redis.close();
});

/** A run handed to the queue: its first epoch begun, so its ids start at 1. */
const newRun = async (status = 'running', workspaceId = 'ws1') => {
  const run = fakeRun(workspaceId, status);
  runs.set(run.id, run);
  await events.begin(run.id);
  return run;
};
/** A run that logged one line, then finished: its history holds `log` (1) and `done` (2). */
const finishedRun = async () => {
  const run = await newRun('running');
  await events.emit(run.id, 'log', logEvent('a'));
  await events.emit(run.id, 'done', {
    status: 'completed',
    passed: 10,
    failed: 0,
    total: 10,
    durationMs: 9,
  });
  run.status = 'completed';
  return run;
};
const eventsUrl = (runId: string, query = '') => `${server.url}/runs/${runId}/events${query}`;
const numsub = async (runId: string) =>
  Number(
    (
      (await client.call('PUBSUB', 'NUMSUB', `${prefix}:run:{${runId}}:events`)) as [string, number]
    )[1],
  );

/** A middleware that wraps `res.write` (as compression or a body logger would), recording each chunk. */
const recordingWrites =
  (into: string[]): RequestHandler =>
  (_req, res, next) => {
    const write = res.write;
    res.write = function (this: typeof res, chunk: unknown, ...rest: unknown[]) {
      into.push(String(chunk));
      return Reflect.apply(write, this, [chunk, ...rest]);
    } as typeof res.write;
    next();
  };

describe('GET /runs/:runId/events', () => {
  it('streams SSE headers, a retry hint, the snapshot first, then id + data frames and heartbeats', async () => {
    const run = await newRun();
    const sse = await openSse(eventsUrl(run.id), { headers: ws1 });
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(sse.headers['cache-control']).toContain('no-cache');
    expect(sse.headers['x-accel-buffering']).toBe('no');
    // The body runs until the connection closes: no chunked framing around every frame.
    expect(sse.headers['transfer-encoding']).toBeUndefined();
    expect(sse.headers.connection).toBe('close');
    await waitFor(() => sse.events.length === 1);
    await events.emit(run.id, 'status', { status: 'running' });
    await events.emit(run.id, 'shard', { shardIndex: 0, state: 'started', attempt: 1 });
    await waitFor(() => sse.events.length === 3 && sse.frames.some((f) => f.comment === 'hb'));
    expect(sse.frames[0]).toEqual({ retry: 2000 });
    expect(sse.frames[1]).toEqual({ data: { type: 'snapshot', runId: run.id, run } });
    expect(sse.events.slice(1)).toEqual([
      { id: 1, type: 'status', runId: run.id, status: 'running' },
      { id: 2, type: 'shard', runId: run.id, shardIndex: 0, state: 'started', attempt: 1 },
    ]);
    sse.close();
  });

  it('writes every frame through a middleware that wrapped res.write', async () => {
    // Frames normally bypass res.write for the socket; a wrapper (compression, a body logger)
    // must still see every byte of the stream.
    const seen: string[] = [];
    const wrapped = await startRelayServer({ events }, runs, recordingWrites(seen));
    try {
      const run = await newRun();
      const sse = await openSse(`${wrapped.url}/runs/${run.id}/events`, { headers: ws1 });
      await waitFor(() => sse.events.length === 1);
      await events.emit(run.id, 'log', logEvent('through the wrapper'));
      await waitFor(() => sse.events.length === 2);
      expect(sse.events[1]).toMatchObject({ id: 1, type: 'log', message: 'through the wrapper' });
      expect(seen.join('')).toContain('"type":"snapshot"');
      expect(seen.join('')).toMatch(/id: 1-[A-Za-z0-9]+\ndata: /);
      sse.close();
    } finally {
      await wrapped.close();
    }
  });

  it('sends the events of one append in one write, in order', async () => {
    // A run's batch of results arrives as one message: one write for all of its frames, not
    // one each (a syscall per frame was a large share of a relay's CPU).
    const writes: string[] = [];
    const wrapped = await startRelayServer({ events }, runs, recordingWrites(writes));
    try {
      const run = await newRun();
      const sse = await openSse(`${wrapped.url}/runs/${run.id}/events`, { headers: ws1 });
      await waitFor(() => sse.events.length === 1);
      const before = writes.length;
      await events.emitMany(
        run.id,
        Array.from({ length: 20 }, (_, i) => ({
          type: 'log' as const,
          payload: logEvent(`l${i}`),
        })),
      );
      await waitFor(() => sse.events.length === 21);
      const frameWrites = writes.slice(before).filter((w) => w.includes('\ndata: '));
      expect(frameWrites).toHaveLength(1);
      expect(frameWrites[0]!.match(/^id: (\d+)-/gm)).toEqual(
        Array.from({ length: 20 }, (_, i) => expect.stringMatching(new RegExp(`^id: ${i + 1}-`))),
      );
      expect(sse.events.slice(1).map((e) => e.id)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      sse.close();
    } finally {
      await wrapped.close();
    }
  });

  it('idle connections share one heartbeat interval and every one of them gets the heartbeat', async () => {
    const run = await newRun();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const first = await openSse(eventsUrl(run.id), { headers: ws1 });
    await waitFor(() => first.events.length === 1);
    const before = timers();
    const more = await Promise.all(
      Array.from({ length: 40 }, () => openSse(eventsUrl(run.id), { headers: ws1 })),
    );
    await waitFor(() => more.every((s) => s.events.length === 1));
    // 40 more streams: a timer per connection would show +40 here.
    expect(timers() - before).toBeLessThan(5);
    await waitFor(() => [first, ...more].every((s) => s.frames.some((f) => f.comment === 'hb')));
    for (const s of [first, ...more]) s.close();
    await waitFor(() => server.router.metrics().connections === 0);
  });

  it('answers 400 naming the field for a non-UUID runId or a bad Last-Event-ID', async () => {
    const bad = await fetch(eventsUrl('not-a-uuid'), { headers: ws1 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: {
        code: 'invalid_input',
        message: 'runId must be a UUID',
        details: { field: 'runId', issues: [{ field: 'runId', message: 'runId must be a UUID' }] },
      },
    });
    const run = await newRun();
    const badId = await fetch(eventsUrl(run.id), { headers: { ...ws1, 'last-event-id': '-3' } });
    expect(badId.status).toBe(400);
    expect(((await badId.json()) as { error: { message: string } }).error.message).toBe(
      'Last-Event-ID must be an event id: <seq>-<epoch> or a non-negative integer',
    );
    const badQuery = await fetch(eventsUrl(run.id, '?lastEventId=1.5'), { headers: ws1 });
    expect(((await badQuery.json()) as { error: { details: unknown } }).error.details).toEqual({
      field: 'lastEventId',
      issues: [{ field: 'lastEventId', message: expect.stringContaining('lastEventId') }],
    });
  });

  it("answers another workspace's run with the same 404 as a missing one", async () => {
    const run = await newRun('running', 'ws2');
    for (const id of [run.id, randomUUID()]) {
      const res = await fetch(eventsUrl(id), { headers: ws1 });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: { code: 'not_found', message: `run ${id} not found` },
      });
    }
    expect(await numsub(run.id)).toBe(0);
  });

  it('without authorize, checks the workspace in the one snapshot read it makes after subscribing', async () => {
    const reads: [string, boolean][] = [];
    const own = await newRun('running', 'ws1');
    const theirs = await newRun('running', 'ws2');
    const relay = await startRelayServer(
      {
        events,
        authorize: undefined,
        snapshot: async (runId, req) => {
          reads.push([runId, req !== undefined]);
          const run = runs.get(runId);
          return run && req?.get('x-workspace') === run.workspaceId ? run : undefined;
        },
      },
      runs,
    );
    try {
      const url = (id: string) => `${relay.url}/runs/${id}/events`;
      const refused = await fetch(url(theirs.id), { headers: ws1 });
      expect(refused.status).toBe(404);
      expect(await refused.json()).toEqual({
        error: { code: 'not_found', message: `run ${theirs.id} not found` },
      });
      // The subscription made before the read is dropped with the refused connection.
      await waitFor(async () => (await numsub(theirs.id)) === 0, { timeoutMs: 5_000 });
      const sse = await openSse(url(own.id), { headers: ws1 });
      await waitFor(() => sse.events.length > 0, { timeoutMs: 5_000 });
      expect(sse.events[0]).toMatchObject({ type: 'snapshot', runId: own.id, run: { id: own.id } });
      sse.close();
      expect(reads).toEqual([
        [theirs.id, true],
        [own.id, true],
      ]);
      expect(relay.router.metrics()).toMatchObject({ rejected: 1, connectionsTotal: 1 });
    } finally {
      await relay.close();
    }
  });

  it('sends snapshot, done and closes for a finished run, from the history or from the snapshot', async () => {
    const run = await finishedRun();
    const sse = await openSse(eventsUrl(run.id), { headers: ws1 });
    await sse.ended;
    expect(sse.events.map((e) => [e.type, e.id])).toEqual([
      ['snapshot', undefined],
      ['done', 2],
    ]);
    const expired = await newRun('aborted');
    const old = await openSse(eventsUrl(expired.id), { headers: ws1 });
    await old.ended;
    expect(old.events[0]).not.toHaveProperty('recovered'); // not a resume
    expect(old.events[1]).toEqual({
      type: 'done',
      runId: expired.id,
      status: 'aborted',
      passed: 0,
      failed: 0,
      total: 10,
      durationMs: null,
    });
  });

  it('a finished run whose last events reached the history after the replay was read: they come before its done, never done alone', async () => {
    const run = await newRun();
    await events.emit(run.id, 'log', logEvent('seen')); // 1, the client holds it
    // Another process appends the run's last events while this open reads the snapshot:
    // after its replay was computed, before the finished check. Their publish has not
    // reached this process (appended without it), so its stream's cursor is behind.
    const otherLog = redisEventLog({ redis: client, prefix });
    const late = await startRelayServer(
      {
        events,
        snapshot: async (id) => {
          if (id === run.id && run.status === 'running') {
            const tail = prepareEvents(id, [
              { type: 'log', payload: logEvent('late 1') },
              { type: 'log', payload: logEvent('late 2') },
              {
                type: 'done',
                payload: { status: 'completed', passed: 10, failed: 0, total: 10, durationMs: 9 },
              },
            ]);
            await otherLog.appendMany(id, tail, { floor: 0, historyLimit: 50, ttlMs: 60_000 });
            run.status = 'completed';
          }
          return runs.get(id);
        },
      },
      runs,
    );
    try {
      const sse = await openSse(`${late.url}/runs/${run.id}/events`, {
        headers: { ...ws1, 'last-event-id': '1' },
      });
      await sse.ended;
      expect(sse.events[0]).toMatchObject({ type: 'snapshot', recovered: true });
      expect(sse.events.slice(1).map((e) => [e.type, e.id])).toEqual([
        ['log', 2],
        ['log', 3],
        ['done', 4],
      ]);
    } finally {
      await late.close();
    }
  });

  it('ends the live stream of a run that finished without its done reaching the relay, and of a run that is gone', async () => {
    const checking = await startRelayServer(
      { events, heartbeatMs: 50, statusCheckMs: 200, finishedGraceMs: 200 },
      runs,
    );
    try {
      const run = await newRun();
      const gone = await newRun();
      const url = (id: string) => `${checking.url}/runs/${id}/events`;
      const sse = await openSse(url(run.id), { headers: ws1 });
      const other = await openSse(url(gone.id), { headers: ws1 });
      await events.emit(run.id, 'log', logEvent('working'));
      await waitFor(() => sse.events.length === 2 && other.events.length === 1);
      // The status is final, but its `done` was lost (never emitted here).
      Object.assign(run, { status: 'failed', passed: 1, failed: 2, durationMs: 5 });
      runs.delete(gone.id);
      const ended = (s: typeof sse) =>
        Promise.race([s.ended.then(() => true), new Promise((r) => setTimeout(r, 5_000, false))]);
      expect(await ended(sse)).toBe(true);
      expect(sse.events.at(-1)).toEqual({
        type: 'done',
        runId: run.id,
        status: 'failed',
        passed: 1,
        failed: 2,
        total: 10,
        durationMs: 5,
      });
      expect(await ended(other)).toBe(true);
      await waitFor(() => checking.router.metrics().connections === 0);
    } finally {
      await checking.close();
    }
  });

  it('answers a resume from 0 of a finished run whose history is gone with recovered:false', async () => {
    // Its events existed (a finished run has a `done` at least) but expired, or lived in a log
    // lost in a restart: an empty replay would look complete, so the client must reload.
    const gone = await newRun('completed');
    const sse = await openSse(eventsUrl(gone.id, '?lastEventId=0'), { headers: ws1 });
    await sse.ended;
    expect(sse.events.map((e) => [e.type, e.id])).toEqual([
      ['snapshot', undefined],
      ['done', undefined],
    ]);
    expect(sse.events[0]).toMatchObject({ recovered: false });
    // With its history there, the same resume from 0 replays it all and is recovered.
    const kept = await finishedRun();
    const again = await openSse(eventsUrl(kept.id, '?lastEventId=0'), { headers: ws1 });
    await again.ended;
    expect(again.events[0]).toMatchObject({ type: 'snapshot', recovered: true });
    expect(again.events.slice(1).map((e) => [e.type, e.id])).toEqual([
      ['log', 1],
      ['done', 2],
    ]);
  });

  it('resumes with Last-Event-ID: exactly the missed events, then live; beyond the history a recovered:false snapshot', async () => {
    const run = await newRun();
    const first = await openSse(eventsUrl(run.id), { headers: ws1 });
    for (let i = 1; i <= 5; i++) await events.emit(run.id, 'log', logEvent(`m${i}`));
    await waitFor(() => first.events.length === 6);
    first.close();
    for (let i = 6; i <= 9; i++) await events.emit(run.id, 'log', logEvent(`m${i}`));
    const again = await openSse(eventsUrl(run.id, '?lastEventId=1'), {
      headers: { ...ws1, 'last-event-id': '5' },
    });
    await events.emit(run.id, 'log', logEvent('m10'));
    await waitFor(() => again.events.length === 6);
    expect(again.events[0]).toMatchObject({ type: 'snapshot', recovered: true });
    expect(again.events.slice(1).map((e) => e.id)).toEqual([6, 7, 8, 9, 10]);
    again.close();
    expect(server.router.metrics().resumesRecovered).toBeGreaterThanOrEqual(1);

    for (let i = 11; i <= 70; i++) await events.emit(run.id, 'log', logEvent(`m${i}`)); // history keeps 50
    const late = await openSse(eventsUrl(run.id), { headers: { ...ws1, 'last-event-id': '10' } });
    await events.emit(run.id, 'log', logEvent('m71'));
    await waitFor(() => late.events.length === 2);
    expect(late.events[0]).toMatchObject({ type: 'snapshot', recovered: false });
    expect(late.events[1]).toMatchObject({ id: 71 });
    late.close();
  });

  it('disconnects a client that stops reading, keeping its unsent bytes under maxBufferedBytes', async () => {
    const run = await newRun();
    const before = server.router.metrics().slowClientDisconnects;
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /runs/${run.id}/events HTTP/1.1\r\nHost: x\r\nx-workspace: ws1\r\n\r\n`);
    socket.pause(); // never reads: the kernel buffers fill, then Node's
    await waitFor(() => events.metrics().listeners > 0);
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 3000 && server.router.metrics().slowClientDisconnects === before; i++) {
      await events.emit(run.id, 'log', logEvent(big));
    }
    expect(server.router.metrics().slowClientDisconnects).toBe(before + 1);
    expect(server.router.metrics().peakBufferedBytes).toBeLessThanOrEqual(256 * 1024 + 17 * 1024);
    await waitFor(async () => (await numsub(run.id)) === 0, { what: 'subscription released' });
    socket.destroy();
  });

  it('cuts off a client whose unsent bytes do not drain within stallTimeoutMs, even under maxBufferedBytes; a reader stays, and the cut one resumes', async () => {
    const stalling = await startRelayServer(
      { events, heartbeatMs: 50, stallTimeoutMs: 400, maxBufferedBytes: 64 * 1024 * 1024 },
      runs,
    );
    try {
      const run = await newRun();
      const socket = connect(Number(new URL(stalling.url).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`GET /runs/${run.id}/events HTTP/1.1\r\nHost: x\r\nx-workspace: ws1\r\n\r\n`);
      socket.pause(); // reads nothing from here on
      await waitFor(() => stalling.router.metrics().connections === 1);
      // Fill the kernel's buffers until bytes wait in Node, then go quiet: only heartbeats.
      const big = 'x'.repeat(16 * 1024);
      for (let i = 0; i < 3000 && stalling.router.metrics().peakBufferedBytes < 64 * 1024; i++) {
        await events.emit(run.id, 'log', logEvent(big));
      }
      expect(stalling.router.metrics().peakBufferedBytes).toBeGreaterThanOrEqual(64 * 1024);
      const reader = await openSse(`${stalling.url}/runs/${run.id}/events`, { headers: ws1 });
      await waitFor(() => stalling.router.metrics().stalledClientDisconnects === 1, {
        timeoutMs: 10_000,
        what: 'the stalled client cut off',
      });
      expect(stalling.router.metrics().slowClientDisconnects).toBe(0);
      // The reader drained all along: still connected, and it still gets live events.
      await waitFor(() => stalling.router.metrics().connections === 1);
      await new Promise((r) => setTimeout(r, 600));
      await events.emit(run.id, 'log', logEvent('after'));
      await waitFor(() => reader.events.at(-1)?.message === 'after');
      expect(stalling.router.metrics().stalledClientDisconnects).toBe(1);
      // The cut client resumes like any other: the events after its last id, then live.
      const after = Number(reader.events.at(-1)?.id);
      const resumed = await openSse(`${stalling.url}/runs/${run.id}/events`, {
        headers: { ...ws1, 'last-event-id': String(after - 1) },
      });
      await waitFor(() => resumed.events.length === 2);
      expect(resumed.events[0]).toMatchObject({ type: 'snapshot', recovered: true });
      expect(resumed.events[1]).toMatchObject({ type: 'log', message: 'after' });
      for (const s of [reader, resumed]) s.close();
      socket.destroy();
    } finally {
      await stalling.close();
    }
  });

  it('leaves no subscription, listener or timer after 1,000 connect/disconnect cycles', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const baseline = timers();
    const ids = (await Promise.all(Array.from({ length: 10 }, () => newRun()))).map((r) => r.id);
    for (let round = 0; round < 50; round++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const sse = await openSse(eventsUrl(ids[i % ids.length]!), { headers: ws1 });
          await waitFor(() => sse.events.length === 1, { intervalMs: 2 });
          sse.close();
        }),
      );
    }
    expect(server.router.metrics().connectionsTotal).toBeGreaterThanOrEqual(1000);
    await waitFor(
      () => server.router.metrics().connections === 0 && events.metrics().listeners === 0,
      {
        what: 'connections closed',
      },
    );
    expect(events.metrics().runs).toBe(0);
    await waitFor(async () => (await Promise.all(ids.map(numsub))).every((n) => n === 0), {
      what: 'NUMSUB 0',
    });
    // The bus forgets a channel when its UNSUBSCRIBE is answered, which on a loaded machine
    // can come after another connection already sees NUMSUB 0.
    await waitFor(() => bus.transportChannels().length === 0, { what: 'bus channels released' });
    await waitFor(() => timers() <= baseline, { what: `timers back to ${baseline}` });
  });

  it('caps open streams per workspace and per process: 429 rate_limited with Retry-After, a slot frees on close', async () => {
    const capped = await startRelayServer(
      {
        events,
        maxStreams: 3,
        maxStreamsPerWorkspace: 2,
        limitedRetryAfterSec: 7,
        workspaceOf: (req) => req.get('x-workspace'),
      },
      runs,
    );
    const url = (id: string) => `${capped.url}/runs/${id}/events`;
    const ws2 = { 'x-workspace': 'ws2' };
    try {
      const mine = await newRun();
      const theirs = await newRun('running', 'ws2');
      // Refusals and 404s give their slot back: ten of them leave every slot free.
      for (let i = 0; i < 10; i++) {
        expect((await fetch(url(randomUUID()), { headers: ws1 })).status).toBe(404);
      }
      const a = await openSse(url(mine.id), { headers: ws1 });
      const b = await openSse(url(mine.id), { headers: ws1 });
      expect([a.status, b.status]).toEqual([200, 200]);
      const third = await fetch(url(mine.id), { headers: ws1 });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('7');
      expect(await third.json()).toEqual({
        error: {
          code: 'rate_limited',
          message: 'too many open event streams for this workspace (2); retry later',
          details: { limit: 2, scope: 'workspace' },
        },
      });
      // Another workspace still gets one, up to the process cap.
      const c = await openSse(url(theirs.id), { headers: ws2 });
      expect(c.status).toBe(200);
      const overProcess = await fetch(url(theirs.id), { headers: ws2 });
      expect(overProcess.status).toBe(429);
      expect(await overProcess.json()).toMatchObject({
        error: { code: 'rate_limited', details: { limit: 3, scope: 'process' } },
      });
      expect(capped.router.metrics().rateLimited).toBe(2);
      // A stream that closes gives its slot back.
      a.close();
      await waitFor(() => capped.router.metrics().connections === 2);
      const again = await openSse(url(mine.id), { headers: ws1 });
      expect(again.status).toBe(200);
      for (const s of [b, c, again]) s.close();
    } finally {
      await capped.close();
    }
  });

  it('shutdown ends every stream with a retry hint; a new open gets 200, the snapshot and the hint', async () => {
    const run = await newRun();
    const extra = await startRelayServer({ events }, runs);
    const sse = await openSse(`${extra.url}/runs/${run.id}/events`, { headers: ws1 });
    await waitFor(() => sse.events.length === 1);
    await extra.router.shutdown({ retryMs: 7000 });
    await sse.ended;
    expect(sse.frames.at(-1)).toEqual({ retry: 7000 });
    // EventSource gives up for good on any non-200: the open is answered, then ended.
    const late = await openSse(`${extra.url}/runs/${run.id}/events`, {
      headers: { ...ws1, 'last-event-id': '3' },
    });
    await late.ended;
    expect(late.status).toBe(200);
    // The client's resume point stays valid: its next connection replays after it.
    expect(late.events).toEqual([{ type: 'snapshot', runId: run.id, run, recovered: true }]);
    expect(late.frames.at(-1)).toEqual({ retry: 7000 });
    expect(extra.router.metrics().snapshotOnly).toBe(1);
    // Another workspace's run is still a 404.
    const other = await fetch(`${extra.url}/runs/${run.id}/events`, {
      headers: { 'x-workspace': 'ws2' },
    });
    expect(other.status).toBe(404);
    await extra.close();
  });
});
