import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

// The dashboard's run list on the workspace feed: live rows without polling, and a tag filter.
let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
let browser: Browser;

beforeAll(async () => {
  ctx = await startInProcessApi({ RATE_LIMIT_REQUESTS_PER_S: '0' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
  await ctx?.close();
});

async function signedIn() {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  const listRequests: string[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (req.method() === 'GET' && url.pathname === '/api/v1/runs') listRequests.push(url.search);
  });
  await page.goto(`${ctx.api.url}/`);
  await page.fill('#token-input', TOKEN_A);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#home:not([hidden])');
  return { page, errors, listRequests };
}

const create = async (body: object, token = TOKEN_A) => {
  const res = await apiClient(ctx.api.url, token).post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    ...body,
  });
  expect(res.status).toBe(201);
  return res.body.run;
};

it('the run list is live from the feed: a new run appears on top and moves to completed, with no polling', async () => {
  const { page, errors, listRequests } = await signedIn();
  await expect.poll(() => page.textContent('#feed'), { timeout: 15_000 }).toBe('live');
  const loads = listRequests.length;
  expect(loads).toBeGreaterThan(0);
  const run = await create({
    name: 'feed-live',
    tests: demoTests(6, 400),
    shards: 2,
    tags: ['web'],
  });
  const row = page.locator(`#runs tr[data-run-id="${run.id}"]`);
  await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
  expect(await page.locator('#runs tr').first().getAttribute('data-run-id')).toBe(run.id);
  expect(await row.locator('.tag').allTextContents()).toEqual(['web']);
  await expect.poll(() => row.getAttribute('data-status'), { timeout: 10_000 }).toBe('running');
  await expect.poll(() => row.getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
  expect(await row.locator('td').nth(3).textContent()).toBe('6/6');
  // Another workspace's run never shows.
  const foreign = await create({ name: 'foreign', tests: demoTests(1, 10) }, TOKEN_B);
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await page.locator(`#runs tr[data-run-id="${foreign.id}"]`).count()).toBe(0);
  // Everything after the first page came from the feed: no list request since.
  expect(listRequests.length).toBe(loads);
  expect(errors).toEqual([]);
  await page.close();
});

it('the tag filter lists only runs with every tag, and keeps adding matching runs live', async () => {
  const { page, errors } = await signedIn();
  const tagged = await create({
    name: 'tagged-old',
    tests: demoTests(1, 10),
    tags: ['nightly', 'team:a'],
  });
  await create({ name: 'untagged-old', tests: demoTests(1, 10), tags: ['team:a'] });
  await page.fill('#tag-filter', 'team:a nightly');
  await page.click('#tag-form button[type=submit]');
  await expect.poll(() => page.textContent('#feed'), { timeout: 15_000 }).toBe('live');
  await expect
    .poll(
      () =>
        page
          .locator('#runs tr')
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run-id'))),
      {
        timeout: 10_000,
      },
    )
    .toEqual([tagged.id]);
  const other = await create({ name: 'untagged-new', tests: demoTests(1, 10), tags: ['team:a'] });
  const wanted = await create({
    name: 'tagged-new',
    tests: demoTests(1, 10),
    tags: ['team:a', 'nightly', 'x'],
  });
  await expect
    .poll(() => page.locator(`#runs tr[data-run-id="${wanted.id}"]`).getAttribute('data-status'), {
      timeout: 15_000,
    })
    .toBe('completed');
  expect(await page.locator(`#runs tr[data-run-id="${other.id}"]`).count()).toBe(0);
  expect(await page.locator('#runs tr').first().getAttribute('data-run-id')).toBe(wanted.id);
  expect(await page.locator('#runs tr').count()).toBe(2);
  expect(errors).toEqual([]);
  await page.close();
});
