import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodeProcess, spawnNode, waitFor } from '@x/testkit';
import { afterAll, expect, it } from 'vitest';
import { INTERRUPTED_ERROR } from '../src/compose/embedded.js';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { API_MAIN } from './support/fleet.js';

const dataDir = mkdtempSync(join(tmpdir(), 'x-embedded-'));
let proc: NodeProcess | undefined;

/** The README's first command, minus the build: the api main with no REDIS_URL. */
async function startEmbedded() {
  const child = await spawnNode(
    API_MAIN,
    {
      REDIS_URL: '',
      DATABASE_URL: '',
      API_TOKENS: '',
      STREAM_TOKEN_SECRET: '',
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    { readyLine: /development token: /, readyTimeoutMs: 90_000 },
  );
  const token = /development token: (\S+)/.exec(
    await child.waitForLine(/development token: /),
  )![1]!;
  const url = String(JSON.parse(await child.waitForLine(/"msg":"listening"/)).url);
  return { child, token, api: apiClient(url, token) };
}

afterAll(async () => {
  await proc?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

it('embedded mode: one process, a dev token, a demo run from start to done; a run cut by a crash is failed at restart and the dev token is kept', async () => {
  const first = await startEmbedded();
  proc = first.child;
  const created = await first.api.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(12, 30, 4),
    shards: 3,
  });
  expect(created.status).toBe(201);
  const done = await waitFor(
    async () => {
      const run = (await first.api.get<{ run: RunBody }>(`/runs/${created.body.run.id}`)).body.run;
      return run.status === 'completed' ? run : undefined;
    },
    { timeoutMs: 30_000, what: 'the demo run to complete' },
  );
  expect(done).toMatchObject({ total: 12, passed: 9, failed: 3, shardsCompleted: 3 });

  // A long run, then a crash: PGlite keeps the run, the in-memory queue is gone.
  const long = (
    await first.api.post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(4, 60_000),
      shards: 2,
    })
  ).body.run;
  await waitFor(
    async () =>
      (await first.api.get<{ run: RunBody }>(`/runs/${long.id}`)).body.run.status === 'running',
    {
      timeoutMs: 20_000,
      what: 'the long run to start',
    },
  );
  await first.child.kill('SIGKILL');

  const second = await startEmbedded();
  proc = second.child;
  // The development token lives in DATA_DIR too, so a dashboard's saved token still works.
  expect(second.token).toBe(first.token);
  const after = (await second.api.get<{ run: RunBody }>(`/runs/${long.id}`)).body.run;
  expect(after).toMatchObject({ status: 'failed', error: INTERRUPTED_ERROR });
  // The completed run survived the restart untouched.
  expect((await second.api.get<{ run: RunBody }>(`/runs/${done.id}`)).body.run).toMatchObject({
    status: 'completed',
    passed: 9,
  });
  const exit = await second.child.kill('SIGTERM');
  expect(exit.code).toBe(0);
  proc = undefined;
}, 240_000);
