import { freePort } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type RunEvent, type XClient, XClientError } from '../src/index.js';
import {
  type ApiProcess,
  demoTests,
  startApi,
  statOf,
  TOKEN,
  tempDataDir,
} from './support/processes.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { collect, recordingFetch } from './support/traffic.js';

const data = tempDataDir('watch');
let api: ApiProcess;
let proxy: TcpProxy;
/** Through the proxy, so tests can cut the network under it. */
let x: XClient;
const traffic = recordingFetch();

beforeAll(async () => {
  // Stream tokens live one second: every reconnect below happens with an expired one.
  api = await startApi({ DATA_DIR: data.dir, STREAM_TOKEN_TTL_MS: '1000' });
  proxy = await startTcpProxy(api.port);
  x = createClient({ baseUrl: proxy.url, token: TOKEN, fetch: traffic.fetch });
});

afterAll(async () => {
  await proxy?.close();
  await api?.stop();
  data.remove();
});

/** The seq of each event's id (`<seq>-<epoch>`), as text. */
const ids = (events: RunEvent[]) =>
  events.flatMap((e) => (e.type !== 'snapshot' && e.id ? [e.id.split('-')[0]!] : []));
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
const sseConnections = () => statOf(api.url, 'sse', 'connections');
const requestsTo = (suffix: string, from = 0) =>
  traffic.log.slice(from).filter((e) => e.path.endsWith(suffix));

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('watch', () => {
  it('yields a snapshot, then every event of the run once and in order, and ends after done', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(8, 50, 4), shards: 2 });
    const events = await collect(x.runs.watch(run.id));
    expect(events[0]).toMatchObject({ type: 'snapshot', runId: run.id, run: { id: run.id } });
    expect(events.filter((e) => e.type === 'snapshot')).toHaveLength(1);
    // From the run's first event (lastEventId 0 by default): ids 1..n, no gap, no repeat.
    expect(ids(events)).toEqual(oneTo(events.length - 1));
    expect(events.filter((e) => e.type === 'result')).toHaveLength(8);
    const last = events.at(-1)!;
    expect(last.type).toBe('done');
    if (last.type === 'done')
      expect(last).toMatchObject({ status: 'completed', passed: 6, failed: 2, total: 8 });
  });

  it('resumes after lastEventId: only the later events, then done', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(4, 20), shards: 2 });
    const all = await collect(x.runs.watch(run.id));
    const n = ids(all).length;
    const rest = await collect(x.runs.watch(run.id, { lastEventId: '3' }));
    expect(rest[0]).toMatchObject({ type: 'snapshot', recovered: true });
    expect(ids(rest)).toEqual(oneTo(n).slice(3));
    expect(rest.slice(1)).toEqual(all.slice(4));
  });

  it('across network cuts, with its stream token expired each time: a new token, no duplicate, no gap', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(16, 700), shards: 2 });
    const from = traffic.log.length;
    let results = 0;
    let snapshots = 0;
    // Cut at the 2nd result, and 1.2 s into the second connection: each reconnect comes ≥ 1 s
    // (the retry hint is 2 s) after the token it would reuse was minted, so it has expired.
    const events = await collect(x.runs.watch(run.id), (event) => {
      if (event.type === 'result' && ++results === 2) proxy.cut();
      if (event.type === 'snapshot' && ++snapshots === 2) setTimeout(() => proxy.cut(), 1_200);
    });
    expect(ids(events)).toEqual(oneTo(ids(events).length));
    expect(events.filter((e) => e.type === 'result')).toHaveLength(16);
    expect(events.at(-1)).toMatchObject({ type: 'done', status: 'completed', passed: 16 });
    // One snapshot per connection, at least three connections.
    expect(events.filter((e) => e.type === 'snapshot').length).toBeGreaterThanOrEqual(3);
    // Every stream opened with a token minted for it: refreshed before use, never refused.
    const streams = requestsTo('/events', from);
    expect(streams.length).toBeGreaterThanOrEqual(3);
    const tokens = requestsTo('/stream-token', from);
    expect(streams.filter((e) => e.status === 401)).toEqual([]);
    expect(tokens.length).toBe(streams.length);
    expect(new Set(streams.map((e) => e.query.get('st'))).size).toBe(streams.length);
    // Each reconnect resumed after the last event it had.
    expect(streams.map((e) => e.query.get('lastEventId'))[0]).toBe('0');
    expect(
      streams.slice(1).every((e) => Number.parseInt(e.query.get('lastEventId') ?? '', 10) > 0),
    ).toBe(true);
  });

  it('drops the events it already yielded when a stream replays them', async () => {
    // A hop that loses the resume point (rewrites it to 0) on every reconnect: the server then
    // replays the run from its first event, and only the client's own check keeps them out.
    const forgetful = createClient({
      baseUrl: proxy.url,
      token: TOKEN,
      fetch: (input, init) => {
        const url = new URL(input);
        if (url.pathname.endsWith('/events')) url.searchParams.set('lastEventId', '0');
        return fetch(url, init);
      },
    });
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(10, 500), shards: 2 });
    let results = 0;
    const events = await collect(forgetful.runs.watch(run.id), (event) => {
      if (event.type === 'result' && ++results === 4) proxy.cut();
    });
    expect(events.filter((e) => e.type === 'snapshot').length).toBeGreaterThanOrEqual(2);
    expect(ids(events)).toEqual(oneTo(ids(events).length));
    expect(events.filter((e) => e.type === 'result')).toHaveLength(10);
  });

  it('replaces a connection that went silent without closing (idleTimeoutMs)', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(20, 150), shards: 2 });
    let frozen = false;
    const events = await collect(x.runs.watch(run.id, { idleTimeoutMs: 1_500 }), (event) => {
      if (event.type === 'result' && !frozen) {
        frozen = true;
        proxy.freeze();
      }
    });
    expect(frozen).toBe(true);
    expect(ids(events)).toEqual(oneTo(ids(events).length));
    expect(events.filter((e) => e.type === 'result')).toHaveLength(20);
    expect(events.at(-1)).toMatchObject({ type: 'done', status: 'completed' });
  });

  it('recovered: false — resuming from an id the history does not hold: the marked snapshot, then the live events', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(5, 300), shards: 1 });
    const events = await collect(x.runs.watch(run.id, { lastEventId: '100000' }));
    expect(events[0]).toMatchObject({ type: 'snapshot', recovered: false });
    // The ids that follow are below the resume point: they are yielded, not dropped as old.
    expect(ids(events).every((id) => Number(id) < 100000)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'done', status: 'completed', total: 5 });
    // The caller reloads what it missed.
    expect(await collect(x.runs.results(run.id))).toHaveLength(5);
  });

  it('stops when the signal aborts: the iteration ends and the stream is closed', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(2, 30_000), shards: 1 });
    const ctl = new AbortController();
    const seen: RunEvent[] = [];
    const watching = collect(x.runs.watch(run.id, { signal: ctl.signal }), (e) => {
      seen.push(e);
    });
    await waitUntil('the snapshot', async () => seen.length > 0);
    expect(await sseConnections()).toBe(1);
    ctl.abort();
    const events = await watching;
    expect(events.some((e) => e.type === 'done')).toBe(false);
    await waitUntil(
      'the server to see the stream closed',
      async () => (await sseConnections()) === 0,
    );
    await x.runs.abort(run.id);
  });

  it('leaving the loop early closes the stream too', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(2, 30_000), shards: 1 });
    for await (const event of x.runs.watch(run.id)) {
      expect(event.type).toBe('snapshot');
      break;
    }
    await waitUntil(
      'the server to see the stream closed',
      async () => (await sseConnections()) === 0,
    );
    await x.runs.abort(run.id);
  });

  it('stops when the signal aborts while it waits to reconnect', async () => {
    const down = createClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, token: TOKEN });
    const ctl = new AbortController();
    const watching = collect(
      down.runs.watch('00000000-0000-4000-8000-000000000000', { signal: ctl.signal }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const aborted = performance.now();
    ctl.abort();
    expect(await watching).toEqual([]);
    expect(performance.now() - aborted).toBeLessThan(100);
  });

  it('does not retry what retrying cannot fix: an unknown run, a malformed resume point', async () => {
    const missing = collect(x.runs.watch('00000000-0000-4000-8000-000000000000'));
    await expect(missing).rejects.toBeInstanceOf(XClientError);
    await expect(missing).rejects.toMatchObject({ code: 'not_found', status: 404 });
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(1, 1) });
    await expect(collect(x.runs.watch(run.id, { lastEventId: 'yesterday' }))).rejects.toMatchObject(
      { code: 'invalid_input', status: 400 },
    );
  });
});
