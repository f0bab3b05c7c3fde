import { postgres, startRedis, type TestDatabase, type TestRedis, uniqueName } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests } from './support/api-client.js';
import { type ApiProcess, FLEET_TOKEN, type FleetEnv, startApiProcess } from './support/fleet.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

const body = { executor: 'demo', tests: demoTests(1, 10) };
const limitedCount = async (url: string, limit: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^x_rate_limited_total\\{limit="${limit}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};

describe('per-workspace rate limits, embedded (memory store)', () => {
  let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
  beforeAll(async () => {
    ctx = await startInProcessApi({
      RATE_LIMIT_CREATES_PER_MIN: '3',
      RATE_LIMIT_REQUESTS_PER_S: '1000',
    });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('refuses the create past the per-minute limit with 429 rate_limited and Retry-After; another workspace is untouched', async () => {
    const a = apiClient(ctx.api.url, TOKEN_A);
    for (let i = 0; i < 3; i++) expect((await a.post('/runs', body)).status).toBe(201);
    const refused = await fetch(`${ctx.api.url}/api/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refused.json()).toMatchObject({
      error: { code: 'rate_limited', details: { scope: 'workspace', rule: 'creates', limit: 3 } },
    });
    // Reads are not creates: workspace A can still list its runs.
    expect((await a.get('/runs')).status).toBe(200);
    // Workspace B has its own window.
    expect((await apiClient(ctx.api.url, TOKEN_B).post('/runs', body)).status).toBe(201);
    expect(await limitedCount(ctx.api.url, 'creates')).toBe(1);
  });
});

describe('per-workspace request rate, embedded', () => {
  let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
  beforeAll(async () => {
    ctx = await startInProcessApi({ RATE_LIMIT_REQUESTS_PER_S: '5' });
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('lets 5 requests of a burst through in a second, refuses the rest (stream opens too), and never workspace B', async () => {
    const get = (token: string, path: string) =>
      fetch(`${ctx.api.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
    // The window starts at the burst's first request, so the whole burst falls in it.
    const burst = await Promise.all(Array.from({ length: 12 }, () => get(TOKEN_A, '/runs')));
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    const events = await get(TOKEN_A, '/runs/3f0e9a2c-4b1d-4c8e-9f6a-0d2b7e5c1a93/events');
    expect(events.status).toBe(429);
    expect(events.headers.get('retry-after')).toBe('1');
    expect((await get(TOKEN_B, '/runs')).status).toBe(200);
    expect(await limitedCount(ctx.api.url, 'requests')).toBe(8);
  });
});

describe('per-workspace limits across a fleet (Redis store)', () => {
  let redis: TestRedis;
  let db: TestDatabase;
  let env: FleetEnv;
  const apis: ApiProcess[] = [];
  const OTHER = 'other-workspace-token-0001';
  beforeAll(async () => {
    redis = await startRedis();
    db = await postgres('rate_limits');
    env = { REDIS_URL: redis.url, DATABASE_URL: db.url, X_PREFIX: uniqueName('rl') };
    const extra = {
      API_TOKENS: `fleet:${FLEET_TOKEN},other:${OTHER}`,
      RATE_LIMIT_CREATES_PER_MIN: '4',
    };
    apis.push(await startApiProcess(env, extra), await startApiProcess(env, extra));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.proc.kill()));
    await db?.close();
    await redis?.close();
  });

  it('counts one workspace over every replica, and keeps answering from memory while Redis is down', async () => {
    const [one, two] = apis as [ApiProcess, ApiProcess];
    const create = (api: ApiProcess, token = FLEET_TOKEN) =>
      apiClient(api.url, token).post('/runs', body);
    expect((await create(one)).status).toBe(201);
    expect((await create(two)).status).toBe(201);
    expect((await create(one)).status).toBe(201);
    expect((await create(two)).status).toBe(201);
    // The fifth, on either replica, is over the shared window.
    expect((await create(one)).status).toBe(429);
    expect((await create(two)).status).toBe(429);
    expect((await create(one, OTHER)).status).toBe(201);

    // Redis away: each replica counts in its own memory (the insurance limiter), at once,
    // instead of waiting on the reconnecting client; a read answers without a 5xx.
    await redis.stop();
    const started = Date.now();
    const read = await apiClient(two.url, OTHER).get('/runs');
    expect(read.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    await redis.restart();
  }, 120_000);
});
