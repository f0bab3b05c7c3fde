import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';
import { openSse } from './support/sse-client.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;

beforeAll(async () => {
  ctx = await startInProcessApi({ SSE_MAX_STREAMS: '3', SSE_MAX_STREAMS_PER_WORKSPACE: '2' });
});
afterAll(async () => {
  await ctx?.close();
});

/** A demo run that stays running until the test aborts it. */
async function longRun(token: string): Promise<string> {
  const r = await apiClient(ctx.api.url, token).post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(1, 300_000),
  });
  expect(r.status).toBe(201);
  return r.body.run.id;
}
const eventsUrl = (id: string) => `${ctx.api.url}/api/v1/runs/${id}/events`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('open event streams', () => {
  it('are capped per workspace (SSE_MAX_STREAMS_PER_WORKSPACE) and per process (SSE_MAX_STREAMS): 429 rate_limited with Retry-After', async () => {
    const mine = await longRun(TOKEN_A);
    const theirs = await longRun(TOKEN_B);
    const open = [
      await openSse(eventsUrl(mine), bearer(TOKEN_A)),
      await openSse(eventsUrl(mine), bearer(TOKEN_A)),
    ];
    const third = await fetch(eventsUrl(mine), { headers: bearer(TOKEN_A) });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await third.json()).toMatchObject({
      error: { code: 'rate_limited', details: { scope: 'workspace', limit: 2 } },
    });
    // A stream token counts against the same workspace.
    const { token } = (
      await apiClient(ctx.api.url, TOKEN_A).post<{ token: string }>(`/runs/${mine}/stream-token`)
    ).body;
    expect((await fetch(`${eventsUrl(mine)}?st=${encodeURIComponent(token)}`)).status).toBe(429);
    // Workspace B has its own share, up to the process cap.
    open.push(await openSse(eventsUrl(theirs), bearer(TOKEN_B)));
    const overProcess = await fetch(eventsUrl(theirs), { headers: bearer(TOKEN_B) });
    expect(overProcess.status).toBe(429);
    expect(await overProcess.json()).toMatchObject({
      error: { code: 'rate_limited', details: { scope: 'process', limit: 3 } },
    });
    for (const s of open) s.close();
    await apiClient(ctx.api.url, TOKEN_A).post(`/runs/${mine}/abort`);
    await apiClient(ctx.api.url, TOKEN_B).post(`/runs/${theirs}/abort`);
  });
});
