import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient, type FeedEvent, type XClient } from '../src/index.js';
import { type ApiProcess, demoTests, startApi, TOKEN, tempDataDir } from './support/processes.js';

const data = tempDataDir('watch-all');
let api: ApiProcess;
let x: XClient;

beforeAll(async () => {
  api = await startApi({ DATA_DIR: data.dir });
  x = createClient({ baseUrl: api.url, token: TOKEN });
});
afterAll(async () => {
  await api?.stop();
  data.remove();
});

/** Events of `feed` until `until` holds for one (included), with a deadline. */
async function collect(feed: AsyncIterable<FeedEvent>, until: (e: FeedEvent) => boolean) {
  const got: FeedEvent[] = [];
  const deadline = setTimeout(() => {
    throw new Error(`no end frame; got ${JSON.stringify(got)}`);
  }, 20_000);
  try {
    for await (const event of feed) {
      got.push(event);
      if (until(event)) break;
    }
  } finally {
    clearTimeout(deadline);
  }
  return got;
}

it('watchAll yields the feed of runs with every tag, live from now, and resumes after an id', async () => {
  const ctrl = new AbortController();
  const feed = x.runs
    .watchAll({ tags: ['client:feed'], signal: ctrl.signal })
    [Symbol.asyncIterator]();
  const first = await feed.next();
  expect(first.value).toEqual({ type: 'snapshot' });
  const other = await x.runs.create({ executor: 'demo', tests: demoTests(1, 5), tags: ['x'] });
  const run = await x.runs.create({
    executor: 'demo',
    tests: demoTests(4, 20),
    shards: 2,
    tags: ['client:feed', 'x'],
  });
  const rest = await collect(
    { [Symbol.asyncIterator]: () => feed },
    (e) => e.type === 'run' && e.change === 'done' && e.runId === run.id,
  );
  ctrl.abort();
  const frames = rest.filter((e) => e.type === 'run');
  expect(frames.every((e) => e.runId === run.id)).toBe(true);
  expect(frames.some((e) => e.runId === other.id)).toBe(false);
  expect(frames[0]).toMatchObject({
    change: 'created',
    run: { id: run.id, tags: ['client:feed', 'x'] },
  });
  expect(frames.at(-1)).toMatchObject({ change: 'done', run: { status: 'completed', passed: 4 } });
  expect(frames.every((e) => typeof e.id === 'string')).toBe(true);

  // Resumed after the created frame: snapshot (recovered) and the frames after it, once each.
  const again = await collect(
    x.runs.watchAll({ tags: ['client:feed'], lastEventId: frames[0]!.id }),
    (e) => e.type === 'run' && e.change === 'done',
  );
  expect(again[0]).toEqual({ type: 'snapshot', recovered: true });
  expect(again.slice(1).map((e) => e.type === 'run' && e.id)).toEqual(
    frames.slice(1).map((e) => e.type === 'run' && e.id),
  );
});
