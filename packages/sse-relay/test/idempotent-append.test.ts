import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createBus, redisTransport } from '@x/pubsub-core';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunEvents, type RunEvent, redisEventLog } from '../src/index.js';
import { logEvent } from './helpers.js';

// A lost reply: the append script ran, then the connection dropped before its answer came
// back. Whoever resends it (ioredis after its reconnect, or the emit buffer) must not append
// the events a second time.

let redis: TestRedis;
const cleanup: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
  await redis.close();
});

/**
 * A TCP proxy in front of the real Redis. While `dropReplies` > 0, the next append script
 * call (the only command carrying an event's JSON) is forwarded, its reply is
 * awaited (so the script has run) and thrown away, and the client's connection is cut.
 * `refuseMs` > 0: then it stops listening that long, as a Redis that went down would (the
 * client's reconnect is refused, so ioredis fails the unanswered call instead of resending it).
 */
async function lossyProxy(target: TestRedis, refuseMs: number) {
  const state = { dropReplies: 0, dropped: 0 };
  let port = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    let cutting = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', cut);
    upstream.on('close', cut);
    client.on('error', cut);
    upstream.on('error', cut);
    upstream.on('data', (reply) => {
      if (cutting) {
        // The script answered: it ran. Its reply is lost with the connection.
        state.dropped++;
        if (refuseMs > 0 && server.listening) {
          server.close();
          setTimeout(() => server.listen(port, '127.0.0.1'), refuseMs);
        }
        return cut();
      }
      client.write(reply);
    });
    client.on('data', (chunk) => {
      if (cutting) return;
      if (state.dropReplies > 0 && chunk.includes('"type":"log"')) {
        state.dropReplies--;
        cutting = true;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  );
  return { url: `redis://127.0.0.1:${port}`, state };
}

/**
 * An emitting process whose log connection goes through the proxy (as an api's or worker's:
 * ioredis defaults, one retry per request), and a watching process on direct connections.
 */
async function setup(refuseMs: number) {
  const prefix = uniqueName('idem');
  const proxy = await lossyProxy(redis, refuseMs);
  const proxied = new Redis(proxy.url, { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
  proxied.on('error', () => {});
  const direct = new Redis(redis.url);
  const buses = [0, 1].map(() =>
    createBus({ transport: redisTransport({ url: redis.url }), prefix }),
  );
  await Promise.all(buses.map((b) => b.ready()));
  const emitter = createRunEvents({
    bus: buses[0]!,
    log: redisEventLog({ redis: proxied, prefix }),
    closeFlushTimeoutMs: 200,
  });
  const watcher = createRunEvents({
    bus: buses[1]!,
    log: redisEventLog({ redis: direct, prefix }),
  });
  cleanup.push(async () => {
    await emitter.close();
    await watcher.close();
    for (const b of buses) await b.close();
    proxied.disconnect();
    direct.disconnect();
  });
  return { proxy, emitter, watcher, history: redisEventLog({ redis: direct, prefix }) };
}

const TOTAL = 40;

async function emitWithLostReplies(refuseMs: number) {
  const { proxy, emitter, watcher, history } = await setup(refuseMs);
  const runId = randomUUID();
  await emitter.begin(runId);
  const seen: RunEvent[] = [];
  (await watcher.listen(runId, 0, (e) => seen.push(e))).start();
  // The script is loaded (EVALSHA answers) before any reply is dropped.
  await emitter.emit(runId, 'log', logEvent('m1'));
  for (let i = 2; i <= TOTAL; i += 3) {
    // Every third batch of up to three events loses its reply.
    if (i % 9 === 2) proxy.state.dropReplies++;
    const batch = [i, i + 1, i + 2].filter((n) => n <= TOTAL);
    await Promise.all(batch.map((n) => emitter.emit(runId, 'log', logEvent(`m${n}`))));
  }
  expect(await emitter.settled(runId, { timeoutMs: 15_000 })).toBe('appended');
  expect(proxy.state.dropped).toBeGreaterThanOrEqual(4);

  const { head, events } = await history.read(runId, 0, 1_000);
  const messages = events.map((e) => (JSON.parse(e.json) as { message: string }).message);
  const expected = Array.from({ length: TOTAL }, (_, i) => `m${i + 1}`);
  // Each event exactly once, in emit order, with contiguous ids.
  expect(messages).toEqual(expected);
  expect(events.map((e) => e.seq)).toEqual(expected.map((_, i) => i + 1));
  expect(head?.seq).toBe(TOTAL);
  await waitFor(() => seen.length >= TOTAL, { what: 'every event at the watcher' });
  expect(seen.map((e) => e.seq)).toEqual(expected.map((_, i) => i + 1));
  expect(seen.map((e) => (e.data as { message: string }).message)).toEqual(expected);
  return emitter.metrics();
}

describe('appends whose reply was lost', () => {
  it('resent by ioredis after its reconnect: each event is in the history once, ids contiguous', async () => {
    const metrics = await emitWithLostReplies(0);
    // The calls succeeded on their resend: nothing went through the buffer.
    expect(metrics.eventsBufferedTotal).toBe(0);
  });

  it('failed, then resent by the emit buffer as the same batch: each event once, ids contiguous', async () => {
    // Redis unreachable right after the lost reply (the reconnect is refused): the call fails.
    const metrics = await emitWithLostReplies(150);
    // The lost replies failed the calls: those batches went through the buffer.
    expect(metrics.eventsBufferedTotal).toBeGreaterThan(0);
    expect(metrics.eventsFlushed).toBe(metrics.eventsBufferedTotal);
  });

  it('the log answers a batch sent again with its token as the first try, once per epoch; a batch holding done too', async () => {
    const direct = new Redis(redis.url);
    cleanup.push(() => direct.disconnect());
    const log = redisEventLog({ redis: direct, prefix: uniqueName('idem'), publish: false });
    const runId = randomUUID();
    const entry = (m: string) => ({
      type: 'log' as const,
      json: JSON.stringify({ type: 'log', runId, ...logEvent(m) }),
    });
    const opts = (n: number, origin = 'o1') => ({
      floor: 0,
      historyLimit: 100,
      ttlMs: 60_000,
      token: { origin, n },
    });
    await log.begin(runId, 60_000);
    const first = await log.appendMany(runId, [entry('a'), entry('b')], opts(1));
    expect(first.seqs).toEqual([1, 2]);
    // Another origin appends meanwhile; then o1's batch 1 comes again: answered, not appended.
    expect((await log.appendMany(runId, [entry('c')], opts(1, 'o2'))).seqs).toEqual([3]);
    expect(await log.appendMany(runId, [entry('a'), entry('b')], opts(1))).toEqual(first);
    expect((await log.head(runId))?.seq).toBe(3);
    // The next batch of o1 is appended.
    expect((await log.appendMany(runId, [entry('d')], opts(2))).seqs).toEqual([4]);
    // After a declared gap (a new epoch) the old record never matches: appended anew there.
    const epoch = await log.declareGap(runId, 0, 60_000);
    const again = await log.appendMany(runId, [entry('d')], opts(2));
    expect(again.epoch).toBe(epoch);
    expect(again.seqs).toHaveLength(1);
    expect((await log.read(runId, 0, 10)).events.map((e) => e.seq)).toEqual(again.seqs);
    // A batch with `done` and an event after it: the resend answers the same seqs and zeros.
    const done = {
      type: 'done' as const,
      json: JSON.stringify({
        type: 'done',
        runId,
        status: 'completed',
        passed: 1,
        failed: 0,
        total: 1,
        durationMs: 1,
      }),
    };
    const last = await log.appendMany(runId, [entry('e'), done, entry('late')], opts(3));
    expect(last.seqs[2]).toBe(0);
    expect(await log.appendMany(runId, [entry('e'), done, entry('late')], opts(3))).toEqual(last);
    expect((await log.read(runId, 0, 10)).events).toHaveLength(3);
  });
});
