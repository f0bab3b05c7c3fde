import { LIVE_STATUSES, RUN_EVENT_TYPES, RUN_STATUSES, TERMINAL_STATUSES } from '@x/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A } from './support/in-process-api.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;

beforeAll(async () => {
  ctx = await startInProcessApi();
});
afterAll(async () => {
  await ctx?.close();
});

const auth = { authorization: `Bearer ${TOKEN_A}` };

describe('response headers', () => {
  it('sends nosniff and no-store on every api answer: success, errors, health, readiness and metrics', async () => {
    const base = ctx.api.url;
    const created = await fetch(`${base}/api/v1/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ executor: 'demo', tests: demoTests(1, 0) }),
    });
    expect(created.status).toBe(201);
    const run = ((await created.json()) as { run: RunBody }).run;
    const answers = [
      created,
      await fetch(`${base}/api/v1/runs`, { headers: auth }),
      await fetch(`${base}/api/v1/runs/${run.id}`, { headers: auth }),
      await fetch(`${base}/api/v1/runs?limit=0`, { headers: auth }), // 400
      await fetch(`${base}/api/v1/runs`), // 401
      await fetch(`${base}/api/v1/runs/${run.id}/events`), // 401 on the events route
      await fetch(`${base}/api/v1/nothing`, { headers: auth }), // 404
      await fetch(`${base}/healthz`),
      await fetch(`${base}/readyz`),
      await fetch(`${base}/metrics`),
    ];
    expect(answers.map((r) => r.status)).toEqual([
      201, 200, 200, 400, 401, 401, 404, 200, 200, 200,
    ]);
    for (const r of answers) {
      expect(r.headers.get('x-content-type-options'), r.url).toBe('nosniff');
      expect(r.headers.get('cache-control'), r.url).toBe('no-store');
    }
    const st = (
      await apiClient(base, TOKEN_A).post<{ token: string }>(`/runs/${run.id}/stream-token`)
    ).body.token;
    const stream = await fetch(`${base}/api/v1/runs/${run.id}/events?st=${st}`);
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
    expect(stream.headers.get('cache-control')).toMatch(/no-cache|no-store/);
    await stream.body?.cancel();
  });

  it('serves the dashboard with a CSP without unsafe-inline, not frameable, its script and styles as files', async () => {
    const page = await fetch(`${ctx.api.url}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )style-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // Nothing inline for a CSP to have to allow: every script has a src, no style element or
    // attribute, no on* handler attribute.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const js = await fetch(`${ctx.api.url}/dashboard.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    // The dashboard talks to the API through @x/client, bundled and served as a file too.
    expect(await js.text()).toContain("from './client.js'");
    const client = await fetch(`${ctx.api.url}/client.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await client.text()).toMatch(/export\s*\{[^}]*\bcreateClient\b/);
    const css = await fetch(`${ctx.api.url}/dashboard.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('serves the dashboard @x/protocol’s lists as a module, and the dashboard has no copy of them', async () => {
    const res = await fetch(`${ctx.api.url}/protocol.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const text = await res.text();
    const url = `data:text/javascript;base64,${Buffer.from(text).toString('base64')}`;
    const served = (await import(url)) as Record<string, unknown>;
    expect(served.RUN_STATUSES).toEqual(RUN_STATUSES);
    expect(served.LIVE_STATUSES).toEqual(LIVE_STATUSES);
    expect(served.TERMINAL_STATUSES).toEqual(TERMINAL_STATUSES);
    expect(served.RUN_EVENT_TYPES).toEqual(RUN_EVENT_TYPES);
    const dashboard = await (await fetch(`${ctx.api.url}/dashboard.js`)).text();
    expect(dashboard).toContain("from './protocol.js'");
    expect(dashboard).not.toMatch(/\['(queued|snapshot)',/);
  });
});
