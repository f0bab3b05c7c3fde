import { freePort, startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type BusState, createBus, createOrigin, redisTransport } from '../src/index.js';
import { events } from './contract-suite.js';
import { numsub } from './redis-harness.js';

describe('redis transport under faults', () => {
  let redis: TestRedis;
  const buses: Bus[] = [];
  const bus = (url: string, opts: Parameters<typeof redisTransport>[0] = {}) => {
    const b = createBus({
      transport: redisTransport({ url, backoff: { initialMs: 50, maxMs: 500 }, ...opts }),
      origin: createOrigin(),
      prefix: 'faults',
    });
    buses.push(b);
    return b;
  };

  beforeEach(async () => {
    redis = await startRedis(); // one server per test: these tests kill it
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await redis.close();
  });

  it('strict start-up against a closed port rejects within the default 2 s timeout', async () => {
    const port = await freePort();
    const b = bus(`redis://127.0.0.1:${port}`, { strict: true });
    const started = Date.now();
    await expect(b.ready()).rejects.toMatchObject({ name: 'PubSubError', code: 'connect_timeout' });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(3_000);
    await waitFor(() => b.state === 'closed', { what: 'the failed bus to close' });
    await expect(b.ready()).rejects.toMatchObject({ code: 'connect_timeout' });
    expect(b.channel(events, { runId: 'r' }).publish({ seq: 1 })).toBe(false);
    await expect(b.channel(events, { runId: 'r' }).subscribe(() => {})).rejects.toMatchObject({
      code: 'closed',
    });
  });

  it('strict start-up honours a shorter connectTimeoutMs and succeeds when Redis is up', async () => {
    const down = bus(`redis://127.0.0.1:${await freePort()}`, {
      strict: true,
      connectTimeoutMs: 300,
    });
    const started = Date.now();
    await expect(down.ready()).rejects.toMatchObject({ code: 'connect_timeout' });
    expect(Date.now() - started).toBeLessThan(1_000);
    const up = bus(redis.url, { strict: true });
    await up.ready();
    expect(up.state).toBe('connected');
  });

  it('starts without Redis when not strict: subscriptions wait and work once Redis is up', async () => {
    await redis.stop();
    const [a, b] = [bus(redis.url), bus(redis.url)];
    const got: number[] = [];
    await b.channel(events, { runId: 'r' }).subscribe(({ seq }) => void got.push(seq));
    expect(b.state).toBe('reconnecting');
    expect(a.channel(events, { runId: 'r' }).publish({ seq: 0 })).toBe(true); // never throws
    await waitFor(() => a.metrics().publishErrors === 1, { what: 'the failed send to be counted' });
    await redis.restart();
    await Promise.all([a.ready(), b.ready()]);
    a.channel(events, { runId: 'r' }).publish({ seq: 1 });
    await waitFor(() => got.includes(1), { what: 'delivery after Redis came up' });
    expect(got).toEqual([1]);
  });

  it('survives Redis SIGKILL and restart mid-stream: resubscribes, fires onReconnect, never duplicates', async () => {
    const [a, b] = [bus(redis.url), bus(redis.url)];
    await Promise.all([a.ready(), b.ready()]);
    const seen = new Map<number, number>();
    const local: number[] = [];
    await b.channel(events, { runId: 'r' }).subscribe(({ seq }) => {
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
    });
    await a.channel(events, { runId: 'r' }).subscribe(({ seq }) => void local.push(seq));
    const states: BusState[] = [];
    b.onState((s) => states.push(s));
    let reconnects = 0;
    b.onReconnect(() => {
      reconnects++;
    });
    let seq = 0;
    const publisher = setInterval(
      () => a.channel(events, { runId: 'r' }).publish({ seq: ++seq }),
      5,
    );
    try {
      for (let round = 1; round <= 2; round++) {
        await waitFor(() => seen.size >= 20 * round, { what: `delivery before outage ${round}` });
        await redis.kill();
        await waitFor(() => b.state === 'reconnecting', { what: 'b to notice the outage' });
        const errorsBefore = a.metrics().publishErrors;
        await waitFor(() => a.metrics().publishErrors > errorsBefore, { what: 'failed sends' });
        await redis.restart();
        await waitFor(() => reconnects === round, {
          what: `onReconnect ${round}`,
          timeoutMs: 15_000,
        });
        const resumedFrom = seq;
        await waitFor(() => [...seen.keys()].some((s) => s > resumedFrom + 10), {
          what: `delivery to resume after restart ${round}`,
        });
      }
    } finally {
      clearInterval(publisher);
    }
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(b.metrics().reconnects).toBe(2);
    expect(states.filter((s) => s === 'reconnecting')).toHaveLength(2);
    expect(b.state).toBe('connected');
    // Local listeners heard every publish, outage or not: local-first never waits on Redis.
    await waitFor(() => local.length === seq, { what: 'local delivery of every publish' });
    const admin = new Redis(redis.url);
    try {
      // Both buses re-subscribed (a may reconnect a backoff step later than b).
      const name = b.channel(events, { runId: 'r' }).name;
      await waitFor(async () => (await numsub(admin, name)) === 2, { what: 'NUMSUB 2' });
    } finally {
      admin.disconnect();
    }
  });

  it('re-subscribes a channel added during the outage before firing onReconnect', async () => {
    const [a, b] = [bus(redis.url), bus(redis.url)];
    await Promise.all([a.ready(), b.ready()]);
    await redis.kill();
    await waitFor(() => b.state === 'reconnecting', { what: 'outage noticed' });
    const got: number[] = [];
    await b
      .channel(events, { runId: uniqueName('late') })
      .subscribe(({ seq }) => void got.push(seq));
    const name = b.channel(events, { runId: 'late2' }).name;
    await b.channel(events, { runId: 'late2' }).subscribe(({ seq }) => void got.push(seq));
    const reconnected = new Promise<number>((resolve) => {
      b.onReconnect(async () => {
        const admin = new Redis(redis.url);
        resolve(await numsub(admin, name));
        admin.disconnect();
      });
    });
    await redis.restart();
    expect(await reconnected).toBe(1);
    await a.ready();
    a.channel(events, { runId: 'late2' }).publish({ seq: 5 });
    await waitFor(() => got.includes(5), { what: 'delivery on the channel added while down' });
  });

  it('retries a refused SUBSCRIBE with backoff and still dispatches each message once', async () => {
    const admin = new Redis(redis.url);
    try {
      // A user with no channel rights: SUBSCRIBE fails with NOPERM on a live connection.
      await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '+@all', 'resetchannels');
      const url = `redis://limited:pw@127.0.0.1:${redis.port}`;
      const [a, b] = [bus(redis.url), bus(url)];
      await Promise.all([a.ready(), b.ready()]);
      const got: number[] = [];
      const channel = b.channel(events, { runId: 'acl' });
      await channel.subscribe(({ seq }) => void got.push(seq));
      await waitFor(() => b.metrics().subscribeErrors >= 3, { what: 'three refused attempts' });
      expect(await numsub(admin, channel.name)).toBe(0);
      await admin.call('ACL', 'SETUSER', 'limited', 'allchannels');
      await waitFor(async () => (await numsub(admin, channel.name)) === 1, {
        what: 'the retried SUBSCRIBE to succeed',
      });
      for (let seq = 1; seq <= 3; seq++) a.channel(events, { runId: 'acl' }).publish({ seq });
      await waitFor(() => got.length >= 3, { what: 'delivery after the retry' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(got).toEqual([1, 2, 3]);
    } finally {
      admin.disconnect();
    }
  });
});
