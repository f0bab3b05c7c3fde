import { mkdirSync } from 'node:fs';
import { freePort, postgres, startRedis, uniqueName } from '@x/testkit';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import {
  type ApiProcess,
  FLEET_TOKEN,
  type FleetEnv,
  startApiProcess,
  startWorkerProcess,
  type WorkerProcess,
} from './support/fleet.js';
import { startInProcessApi, TOKEN_A } from './support/in-process-api.js';

const ARTIFACTS = new URL('../test-artifacts/', import.meta.url);
let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
let browser: Browser;

beforeAll(async () => {
  ctx = await startInProcessApi();
  // Debian's Chromium; never a downloaded browser.
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await browser?.close();
  await ctx?.close();
});

/** A new page collecting its errors: uncaught ones and every Content-Security-Policy refusal. */
async function watchedPage() {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  return { page, errors };
}

/** A page on the dashboard with the token saved, collecting page errors. */
async function signedIn(base: string, token = TOKEN_A) {
  const { page, errors } = await watchedPage();
  await page.goto(`${base}/`);
  await page.fill('#token-input', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#home:not([hidden])');
  return { page, errors };
}

async function runToCompletion(base: string, tests: number, shards: number): Promise<string> {
  const client = apiClient(base, TOKEN_A);
  const created = await client.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(tests, 0, 3),
    shards,
  });
  expect(created.status).toBe(201);
  const id = created.body.run.id;
  await expect
    .poll(async () => (await client.get<{ run: RunBody }>(`/runs/${id}`)).body.run.status, {
      timeout: 20_000,
    })
    .toBe('completed');
  return id;
}

it('dashboard: saves a token, starts a demo run, shows live progress, aborts it and shows aborted', async () => {
  const { page, errors } = await watchedPage();
  await page.goto(`${ctx.api.url}/`);

  await page.fill('#token-input', TOKEN_A);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#home:not([hidden])');

  await page.fill('#new-run input[name=tests]', '80');
  // 20 tests of >= 1 s per shard: no shard can complete before the abort below.
  await page.fill('#new-run input[name=minMs]', '1000');
  await page.fill('#new-run input[name=maxMs]', '1500');
  await page.fill('#new-run input[name=failRate]', '20');
  await page.fill('#new-run input[name=shards]', '4');
  await page.click('#new-run button[type=submit]');
  await page.waitForSelector('#run:not([hidden])');
  await expect.poll(() => page.textContent('#conn'), { timeout: 20_000 }).toBe('live');

  // Progress advances while the run is live.
  await expect
    .poll(async () => Number(await page.getAttribute('#progress', 'aria-valuenow')), {
      timeout: 20_000,
    })
    .toBeGreaterThan(0);
  const before = Number(await page.getAttribute('#progress', 'aria-valuenow'));
  expect(before).toBeLessThan(100);
  await expect
    .poll(() => page.locator('#results tr').count(), { timeout: 10_000 })
    .toBeGreaterThan(0);
  await expect.poll(() => page.locator('#shards .shard').count()).toBe(4);
  expect(await page.textContent('#run-status')).toBe('running');

  const liveRows = await page.locator('#results tr').count();
  await page.click('#abort');
  await expect.poll(() => page.textContent('#run-status'), { timeout: 15_000 }).toBe('aborted');
  expect(await page.isDisabled('#abort')).toBe(true);
  await expect.poll(() => page.textContent('#run-error')).toBe('aborted by ws-a');
  // Results land with their shard's completion, and no shard completed: the live rows of the
  // stopped shards give way to what the store holds (none), and the page says why.
  const runId = new URL(page.url()).hash.split('/').pop();
  const stored = await fetch(`${ctx.api.url}/api/v1/runs/${runId}/results`, {
    headers: { authorization: `Bearer ${TOKEN_A}` },
  }).then((r) => r.json() as Promise<{ results: unknown[] }>);
  expect(stored.results).toEqual([]);
  await expect.poll(() => page.locator('#results tr').count(), { timeout: 10_000 }).toBe(0);
  expect(await page.textContent('#results-count')).toBe('(0)');
  const note = await page.textContent('#results-note');
  expect(note).toMatch(
    /^\d+ live results? (was|were) from shards that were stopped, and not recorded\.$/,
  );
  expect(Number(note?.split(' ')[0])).toBeGreaterThanOrEqual(liveRows);
  // The bar shows the recorded counts (none) once its width transition is over.
  const barWidth = (part: string) =>
    page.$eval(`#progress .${part}`, (e) => e.getBoundingClientRect().width);
  await expect.poll(() => barWidth('pass')).toBe(0);
  await expect.poll(() => barWidth('fail')).toBe(0);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({
    path: new URL('dashboard-aborted.png', ARTIFACTS).pathname,
    fullPage: true,
  });

  // Back on the list the run shows as aborted, and the token was kept.
  await page.goto(`${ctx.api.url}/#/`);
  await expect
    .poll(() => page.locator('#runs .status').first().textContent(), { timeout: 10_000 })
    .toBe('aborted');
  expect(errors).toEqual([]);
});

it('dashboard: after a restart (event history gone) a completed run still shows its results and shards', async () => {
  // The embedded event log lives in memory: a second api on the same database has none.
  const first = await startInProcessApi();
  const runId = await runToCompletion(first.api.url, 12, 3);
  await first.api.shutdown('restart');
  const second = await startInProcessApi({}, first.db);
  try {
    const { page, errors } = await signedIn(second.api.url);
    await page.goto(`${second.api.url}/#/runs/${runId}`);
    await expect.poll(() => page.textContent('#run-status'), { timeout: 10_000 }).toBe('completed');
    await expect.poll(() => page.locator('#results tr').count(), { timeout: 10_000 }).toBe(12);
    expect(await page.textContent('#results-count')).toBe('(12)');
    const shardStates = await page.locator('#shards .shard .status').allTextContents();
    expect(shardStates).toEqual(['completed', 'completed', 'completed']);
    expect(await page.textContent('#run-counts')).toMatch(/^12 of 12 tests · 8 passed · 4 failed/);
    expect(errors).toEqual([]);
  } finally {
    await second.close();
    await first.db.close();
  }
});

it("dashboard: a result of an attempt older than its shard's latest start is not shown", async () => {
  // A live worker whose shard was taken over can flush its attempt's results after the re-run's
  // `shard started`. Here the re-run's events are emitted into the run's history by hand while
  // the real attempt 1 runs: from then on attempt 1's results are the stale ones.
  const { page, errors } = await signedIn(ctx.api.url);
  const created = await apiClient(ctx.api.url, TOKEN_A).post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(3, 1500),
    shards: 1,
  });
  expect(created.status).toBe(201);
  const runId = created.body.run.id;
  await page.goto(`${ctx.api.url}/#/runs/${runId}`);
  // Attempt 1's first result is shown (t0, after 1.5 s); t1 and t2 follow 1.5 s apart.
  await expect.poll(() => page.locator('#results tr').count(), { timeout: 20_000 }).toBe(1);
  const result = (name: string, attempt: number) => ({
    shardIndex: 0,
    testId: `injected-${name}`,
    name,
    status: 'passed' as const,
    durationMs: 1,
    attempt,
  });
  const { events } = ctx.api.system;
  await events.emit(runId, 'shard', { shardIndex: 0, state: 'started', attempt: 2 });
  await events.emit(runId, 'result', result('late-of-attempt-1', 1));
  await events.emit(runId, 'result', result('of-attempt-2', 2));
  // A later attempt reports a test already shown: its outcome replaces the row's.
  await events.emit(runId, 'shard', { shardIndex: 0, state: 'started', attempt: 3 });
  await events.emit(runId, 'result', { ...result('of-attempt-2', 3), status: 'failed' });
  await expect.poll(() => page.textContent('#run-status'), { timeout: 20_000 }).toBe('completed');
  // t1 and t2 came from attempt 1 after attempt 2 started: dropped like the injected late one.
  const names = await page.locator('#results tr td:nth-child(2)').allTextContents();
  expect(names).toEqual(['t0', 'of-attempt-2']);
  const outcomes = await page.locator('#results tr td:nth-child(3)').allTextContents();
  expect(outcomes).toEqual(['passed', 'failed']);
  expect(errors).toEqual([]);
});

it('dashboard: a run page shows nothing of the previous run while it loads, and the list stays live past one page (workspace feed)', async () => {
  const client = apiClient(ctx.api.url, TOKEN_A);
  const { page, errors } = await signedIn(ctx.api.url);
  // Earlier tests left runs; make sure there are more than one page of 25.
  for (let i = 0; i < 26; i++) {
    const r = await client.post('/runs', { executor: 'demo', tests: demoTests(1, 0) });
    expect(r.status).toBe(201);
  }
  const seen = await runToCompletion(ctx.api.url, 4, 2);
  await page.goto(`${ctx.api.url}/#/runs/${seen}`);
  await expect.poll(() => page.textContent('#run-status'), { timeout: 10_000 }).toBe('completed');
  // Read in the same task as the route change, before any of the new page's requests answer.
  const other = await client.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(2, 0),
  });
  // Browser-side code as text: this test file is compiled without the DOM types.
  const shown = await page.evaluate(`new Promise((resolve) => {
    addEventListener('hashchange', () => {
      const text = (sel) => document.querySelector(sel)?.textContent ?? '';
      resolve([text('#run-status'), text('#run-counts'), text('#run-error')]);
    }, { once: true });
    location.hash = '#/runs/${other.body.run.id}';
  })`);
  expect(shown).toEqual(['', '', '']);

  // The list has a second page; a run created elsewhere still shows up on its own.
  await page.goto(`${ctx.api.url}/#/`);
  await expect.poll(() => page.isHidden('#more'), { timeout: 10_000 }).toBe(false);
  const fresh = await client.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    name: 'created-elsewhere',
    tests: demoTests(1, 0),
  });
  expect(fresh.status).toBe(201);
  await expect
    .poll(() => page.locator('#runs tr').first().textContent(), { timeout: 12_000 })
    .toContain('created-elsewhere');
  expect(errors).toEqual([]);
});

it('dashboard: the api restarts while a run page is open; the page goes on to done, every result once', async () => {
  // A fleet (api and worker apart, Redis, PostgreSQL): the run goes on while the api is down,
  // and its event history outlives the api. The page comes back on the same address.
  const [redis, db] = await Promise.all([startRedis(), postgres('browser_restart')]);
  const env: FleetEnv = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('browser'),
  };
  const port = String(await freePort());
  let api: ApiProcess | undefined;
  let worker: WorkerProcess | undefined;
  try {
    [api, worker] = await Promise.all([
      startApiProcess(env, { PORT: port }),
      startWorkerProcess(env),
    ]);
    const { page, errors } = await signedIn(api.url, FLEET_TOKEN);
    // 12 tests of 400 ms per shard: about 5 s, the page is open well before the end.
    const tests = 36;
    const created = await apiClient(api.url, FLEET_TOKEN).post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(tests, 400, 4),
      shards: 3,
    });
    expect(created.status).toBe(201);
    const runId = created.body.run.id;
    await page.goto(`${api.url}/#/runs/${runId}`);
    await expect.poll(() => page.textContent('#conn'), { timeout: 20_000 }).toBe('live');
    await expect
      .poll(() => page.locator('#results tr').count(), { timeout: 10_000 })
      .toBeGreaterThan(0);
    const before = await page.locator('#results tr').count();
    expect(before).toBeLessThan(tests);

    await api.proc.kill('SIGTERM');
    api = undefined;
    // The page notices: its stream is gone and the watch is trying again.
    await expect.poll(() => page.textContent('#conn'), { timeout: 10_000 }).toBe('reconnecting…');
    api = await startApiProcess(env, { PORT: port });

    await expect.poll(() => page.textContent('#run-status'), { timeout: 30_000 }).toBe('completed');
    const names = await page.locator('#results tr td:nth-child(2)').allTextContents();
    expect(names).toHaveLength(tests);
    expect(new Set(names).size).toBe(tests);
    expect(await page.textContent('#results-count')).toBe(`(${tests})`);
    // The client resumed after the last event it had: no result came twice.
    expect(await page.getAttribute('#results', 'data-repeats')).toBe('0');
    expect(await page.textContent('#run-counts')).toMatch(
      new RegExp(`^${tests} of ${tests} tests · 27 passed · 9 failed`),
    );
    expect(errors).toEqual([]);
  } finally {
    await Promise.all([api?.proc.kill('SIGTERM'), worker?.proc.kill('SIGTERM')]);
    await redis.close();
    await db.close();
  }
});
