import { freePort } from '@x/testkit';
import { afterAll, expect, it } from 'vitest';
import { createClient, type RunEvent } from '../src/index.js';
import { type ApiProcess, demoTests, startApi, TOKEN, tempDataDir } from './support/processes.js';
import { collect, recordingFetch } from './support/traffic.js';

const data = tempDataDir('restart');
let api: ApiProcess | undefined;

afterAll(async () => {
  await api?.stop();
  data.remove();
});

it('embedded: across an api SIGTERM and restart, a recovered:false snapshot (history was in memory), a new token, then done; never an event twice', async () => {
  const port = await freePort();
  // Same DATA_DIR and port after the restart; STREAM_TOKEN_SECRET unset, so the new process
  // has a new secret and refuses the old token.
  api = await startApi({ DATA_DIR: data.dir }, port);
  const traffic = recordingFetch();
  const x = createClient({ baseUrl: api.url, token: TOKEN, fetch: traffic.fetch });
  const run = await x.runs.create({ executor: 'demo', tests: demoTests(4, 1_000), shards: 1 });

  let restarting: Promise<void> | undefined;
  const events = await collect(x.runs.watch(run.id), (event) => {
    if (event.type === 'result' && !restarting) {
      restarting = (async () => {
        await api!.stop();
        api = await startApi({ DATA_DIR: data.dir }, port);
      })();
    }
  });
  await restarting;

  const snapshots = events.filter((e) => e.type === 'snapshot');
  expect(snapshots[0]).toMatchObject({ recovered: true });
  // The restarted api's history is empty: it says so, once, and the caller reloads.
  expect(snapshots.filter((s) => s.recovered === false)).toHaveLength(1);
  const recoveredAt = events.findIndex((e) => e.type === 'snapshot' && e.recovered === false);
  const before = events.slice(0, recoveredAt);
  const beforeIds = before.flatMap((e) => (e.type !== 'snapshot' && e.id ? [e.id] : []));
  expect(beforeIds).toEqual(beforeIds.map((id, i) => `${i + 1}-${id.split('-')[1]}`));

  const final = await x.runs.get(run.id);
  expect(final.status).not.toMatch(/queued|running/);
  const done = events.at(-1) as Extract<RunEvent, { type: 'done' }>;
  expect(done).toMatchObject({ type: 'done', status: final.status, passed: final.passed });
  expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  // What the caller reloads after recovered:false.
  expect(await collect(x.runs.results(run.id))).toHaveLength(4);

  // The first reconnects met a dead port (network errors), then the old token was refused
  // once and a new one minted.
  const streams = traffic.log.filter((e) => e.path.endsWith('/events'));
  expect(streams.some((e) => e.status === 0)).toBe(true);
  const refused = streams.findIndex((e) => e.status === 401);
  expect(refused).toBeGreaterThan(0);
  expect(streams[refused + 1]?.status).toBe(200);
  expect(streams[refused + 1]?.query.get('st')).not.toBe(streams[refused]?.query.get('st'));
});
