import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A } from './support/in-process-api.js';
import { openSse, type SseFrame } from './support/sse-client.js';

// A UUID is case-insensitive (RFC 9562), and a new user may well paste one in upper case. The
// producers write lower case; every boundary must canonicalize, or a stream opened with the
// upper-case id listens on a channel and a history nobody writes: snapshot, then silence.

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
const api = () => apiClient(ctx.api.url, TOKEN_A);
const bearer = { authorization: `Bearer ${TOKEN_A}` };

beforeAll(async () => {
  ctx = await startInProcessApi();
});
afterAll(async () => {
  await ctx?.close();
});

/** Frames with an `id:` came from the run's history or live: not built from a snapshot. */
const sequenced = (frames: SseFrame[]) => frames.filter((f) => f.id !== null);

it('streams the live events and the done of a run opened with its id in upper case', async () => {
  const run = (
    await api().post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(8, 250),
      shards: 2,
    })
  ).body.run;
  const upper = run.id.toUpperCase();
  expect(upper).not.toBe(run.id);

  const stream = await openSse(`${ctx.api.url}/api/v1/runs/${upper}/events`, bearer);
  const done = await stream.waitFor((f) => f.data.type === 'done', 20_000);
  expect(stream.frames[0]?.data).toMatchObject({ type: 'snapshot', runId: run.id });
  // A `done` from the history carries its seq; one rebuilt from the snapshot would not.
  expect(done.id).not.toBeNull();
  expect(done.data).toMatchObject({ runId: run.id, status: 'completed', total: 8 });
  const live = sequenced(stream.frames);
  expect(live.filter((f) => f.data.type === 'result').length).toBeGreaterThan(0);
  expect(live.map((f) => f.id)).toEqual(live.map((_, i) => live[0]!.id! + i));
  expect(new Set(stream.frames.map((f) => f.data.runId))).toEqual(new Set([run.id]));
  stream.close();

  // The same for the stream-token route a browser uses.
  const token = await api().post<{ token: string }>(`/runs/${upper}/stream-token`);
  expect(token.status).toBe(200);
  const replay = await openSse(
    `${ctx.api.url}/api/v1/runs/${upper}/events?st=${encodeURIComponent(token.body.token)}&lastEventId=0`,
  );
  const replayedDone = await replay.waitFor((f) => f.data.type === 'done', 10_000);
  expect(replayedDone.id).toBe(done.id);
  expect(sequenced(replay.frames).length).toBe(done.id);
  replay.close();

  const got = await api().get<{ run: RunBody }>(`/runs/${upper}`);
  expect(got.status).toBe(200);
  expect(got.body.run).toMatchObject({ id: run.id, status: 'completed' });
});

it('aborts a run named in upper case, and its upper-case stream sees the abort', async () => {
  const run = (
    await api().post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(2, 60_000),
      shards: 1,
    })
  ).body.run;
  const upper = run.id.toUpperCase();
  // From the start of the history: the shard may have started before the stream opened.
  const stream = await openSse(`${ctx.api.url}/api/v1/runs/${upper}/events?lastEventId=0`, bearer);
  await stream.waitFor((f) => f.data.type === 'shard' && f.data.state === 'started', 20_000);

  const aborted = await api().post<{ run: RunBody }>(`/runs/${upper}/abort`);
  expect(aborted.status).toBe(202);
  expect(aborted.body.run).toMatchObject({ id: run.id, status: 'aborted' });

  const done = await stream.waitFor((f) => f.data.type === 'done', 10_000);
  expect(done.id).not.toBeNull();
  expect(done.data).toMatchObject({ runId: run.id, status: 'aborted' });
  stream.close();
  expect((await api().get<{ run: RunBody }>(`/runs/${upper}`)).body.run.status).toBe('aborted');
});
