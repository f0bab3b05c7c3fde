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
  await page.fill('#new-run input[name=minMs]', '400');
  await page.fill('#new-run input[name=maxMs]', '600');
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

  await page.click('#abort');
  await expect.poll(() => page.textContent('#run-status'), { timeout: 15_000 }).toBe('aborted');
  expect(await page.isDisabled('#abort')).toBe(true);

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
