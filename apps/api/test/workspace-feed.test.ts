import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';
import { openSse, type SseFrame } from './support/sse-client.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
const a = () => apiClient(ctx.api.url, TOKEN_A);
const b = () => apiClient(ctx.api.url, TOKEN_B);
const feedUrl = (query = '') => `${ctx.api.url}/api/v1/events${query ? `?${query}` : ''}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  ctx = await startInProcessApi({ RATE_LIMIT_REQUESTS_PER_S: '0' });
});
afterAll(() => ctx?.close());

const create = async (body: object) => {
  const res = await a().post<{ run: RunBody }>('/runs', body);
  expect(res.status).toBe(201);
  return res.body.run;
};
type RunFrame = SseFrame & {
  data: { change: string; run: { id: string; tags: string[]; status?: string } };
};
const framesOf = (frames: SseFrame[], runId: string) =>
  frames.filter((f) => f.data.type === 'run' && f.data.runId === runId) as RunFrame[];

it('streams created, status, progress and done of every run of the workspace; another workspace sees none', async () => {
  const feedA = await openSse(feedUrl(), bearer(TOKEN_A));
  const feedB = await openSse(feedUrl(), bearer(TOKEN_B));
  await feedA.waitFor((f) => f.data.type === 'snapshot');
  const run = await create({ executor: 'demo', tests: demoTests(12, 20), shards: 4, tags: ['f1'] });
  await feedA.waitFor(
    (f) => f.data.type === 'run' && f.data.change === 'done' && f.data.runId === run.id,
  );
  const mine = framesOf(feedA.frames, run.id);
  expect(mine[0]?.data).toMatchObject({
    change: 'created',
    run: { id: run.id, tags: ['f1'], status: 'queued', total: 12 },
  });
  expect(mine.some((f) => f.data.change === 'status' && f.data.run.status === 'running')).toBe(
    true,
  );
  expect(mine.some((f) => f.data.change === 'progress')).toBe(true);
  expect(mine.at(-1)?.data).toMatchObject({
    change: 'done',
    run: { id: run.id, tags: ['f1'], status: 'completed', passed: 12 },
  });
  // Ids increase, one per frame.
  // The sequence part of each id (an id may carry an epoch after it: `42-k3J9`).
  const ids = feedA.frames
    .filter((f) => f.id !== null)
    .map((f) => Number.parseInt(String(f.id), 10));
  expect(ids).toEqual([...ids].sort((x, y) => x - y));
  expect(feedA.frames[0]?.data).toEqual({ type: 'snapshot' });
  // Workspace B's feed heard nothing of it (its snapshot only).
  await new Promise((r) => setTimeout(r, 200));
  expect(feedB.frames.map((f) => f.data.type)).toEqual(['snapshot']);
  feedA.close();
  feedB.close();
});

it('?tag= keeps only the runs carrying every tag', async () => {
  const feed = await openSse(feedUrl('tag=team:web&tag=nightly'), bearer(TOKEN_A));
  await feed.waitFor((f) => f.data.type === 'snapshot');
  const other = await create({ executor: 'demo', tests: demoTests(1, 5), tags: ['team:web'] });
  const wanted = await create({
    executor: 'demo',
    tests: demoTests(1, 5),
    tags: ['nightly', 'team:web'],
  });
  await feed.waitFor((f) => f.data.change === 'done' && f.data.runId === wanted.id);
  const runIds = new Set(feed.frames.filter((f) => f.data.type === 'run').map((f) => f.data.runId));
  expect([...runIds]).toEqual([wanted.id]);
  expect(framesOf(feed.frames, other.id)).toEqual([]);
  feed.close();
  const bad = await fetch(feedUrl('tag=NOT%20A%20TAG'), { headers: bearer(TOKEN_A) });
  expect(bad.status).toBe(400);
  expect(
    ((await bad.json()) as { error: { details: { issues: { field: string }[] } } }).error.details
      .issues[0]?.field,
  ).toBe('tag');
});

it('resumes after Last-Event-ID with every later frame once; an id the history cannot serve gets recovered: false', async () => {
  const first = await openSse(feedUrl(), bearer(TOKEN_A));
  const run = await create({ executor: 'demo', tests: demoTests(4, 10), shards: 2 });
  await first.waitFor((f) => f.data.change === 'done' && f.data.runId === run.id);
  first.close();
  const all = first.frames.filter((f) => f.id !== null);
  const cut = all[1]!;
  const resumed = await openSse(feedUrl(), { ...bearer(TOKEN_A), 'last-event-id': String(cut.id) });
  await resumed.waitFor((f) => f.id === all.at(-1)!.id);
  expect(resumed.frames[0]?.data).toEqual({ type: 'snapshot', recovered: true });
  expect(resumed.frames.slice(1, all.length - 1).map((f) => f.id)).toEqual(
    all.slice(2).map((f) => f.id),
  );
  resumed.close();
  const lost = await openSse(feedUrl('lastEventId=987654321'), bearer(TOKEN_A));
  const snap = await lost.waitFor((f) => f.data.type === 'snapshot');
  expect(snap.data).toEqual({ type: 'snapshot', recovered: false });
  lost.close();
});

it('opens with a workspace stream token; a run token, a bad token or none is 401', async () => {
  const { token } = (await a().post<{ token: string }>('/events/stream-token')).body;
  const feed = await openSse(feedUrl(`st=${encodeURIComponent(token)}`));
  await feed.waitFor((f) => f.data.type === 'snapshot');
  const run = await create({ executor: 'demo', tests: demoTests(1, 5) });
  await feed.waitFor((f) => f.data.change === 'created' && f.data.runId === run.id);
  feed.close();
  const runToken = (await a().post<{ token: string }>(`/runs/${run.id}/stream-token`)).body.token;
  expect((await fetch(feedUrl(`st=${encodeURIComponent(runToken)}`))).status).toBe(401);
  expect((await fetch(feedUrl('st=v1.ws-a.1.x'))).status).toBe(401);
  expect((await fetch(feedUrl())).status).toBe(401);
  // The feed token opens no run's stream.
  const runEvents = await fetch(
    `${ctx.api.url}/api/v1/runs/${run.id}/events?st=${encodeURIComponent(token)}`,
  );
  expect(runEvents.status).toBe(401);
  // B's token opens B's feed, never A's.
  const tokenB = (await b().post<{ token: string }>('/events/stream-token')).body.token;
  const feedB = await openSse(feedUrl(`st=${encodeURIComponent(tokenB)}`));
  await create({ executor: 'demo', tests: demoTests(1, 5) });
  await new Promise((r) => setTimeout(r, 300));
  expect(feedB.frames.map((f) => f.data.type)).toEqual(['snapshot']);
  feedB.close();
});

it('throttles progress to at most 2 frames a second per run', async () => {
  const feed = await openSse(feedUrl(), bearer(TOKEN_A));
  const started = Date.now();
  // 32 shards finishing within ~1 s: 32 progress events on the run's own stream.
  const run = await create({ executor: 'demo', tests: demoTests(64, 30), shards: 32 });
  await feed.waitFor((f) => f.data.change === 'done' && f.data.runId === run.id, 30_000);
  const elapsedS = (Date.now() - started) / 1000;
  const progress = framesOf(feed.frames, run.id).filter((f) => f.data.change === 'progress');
  expect(progress.length).toBeGreaterThan(0);
  expect(progress.length).toBeLessThanOrEqual(Math.ceil(elapsedS * 2) + 1);
  feed.close();
});
