import { mkdirSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
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

it('dashboard: saves a token, starts a demo run, shows live progress, aborts it and shows aborted', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
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
