import { afterAll, describe, expect, it } from 'vitest';
import { startInProcessApi } from './support/in-process-api.js';

const METRICS_TOKEN = 'metrics-token-0123456789';
const started: Awaited<ReturnType<typeof startInProcessApi>>[] = [];
async function start(env: Record<string, string>) {
  const ctx = await startInProcessApi(env);
  started.push(ctx);
  return ctx.api;
}
afterAll(async () => {
  for (const ctx of started) await ctx.close();
});

describe('/metrics exposure', () => {
  it('METRICS_PORT moves /metrics to a listener of its own: the api port answers 404', async () => {
    const api = await start({ METRICS_PORT: '0' });
    expect(api.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(api.metricsUrl).not.toBe(api.url);
    const onApi = await fetch(`${api.url}/metrics`);
    expect(onApi.status).toBe(404);
    expect(await onApi.text()).not.toContain('x_http_requests_total');
    const own = await fetch(`${api.metricsUrl}/metrics`);
    expect(own.status).toBe(200);
    expect(await own.text()).toMatch(/^# HELP x_http_requests_total/m);
    // Nothing else lives there: not the api, not the dashboard.
    expect((await fetch(`${api.metricsUrl}/api/v1/runs`)).status).toBe(404);
    expect((await fetch(`${api.metricsUrl}/`)).status).toBe(404);
  });

  it('METRICS_TOKEN makes /metrics want that bearer token (a run token is not it)', async () => {
    const api = await start({ METRICS_TOKEN });
    const bare = await fetch(`${api.url}/metrics`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await bare.json()).toMatchObject({ error: { code: 'unauthorized' } });
    const wrong = await fetch(`${api.url}/metrics`, {
      headers: { authorization: 'Bearer token-for-workspace-a-0001' },
    });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${api.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('x_http_requests_total');
  });

  it('both together: the own listener wants the token too', async () => {
    const api = await start({ METRICS_PORT: '0', METRICS_TOKEN });
    expect((await fetch(`${api.metricsUrl}/metrics`)).status).toBe(401);
    const right = await fetch(`${api.metricsUrl}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(right.status).toBe(200);
  });
});
