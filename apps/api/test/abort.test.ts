import { waitFor } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
const a = () => apiClient(ctx.api.url, TOKEN_A);
const b = () => apiClient(ctx.api.url, TOKEN_B);

beforeAll(async () => {
  ctx = await startInProcessApi();
});
afterAll(async () => {
  await ctx?.close();
});

const abortsByResult = async () => {
  const text = await (await fetch(`${ctx.api.url}/metrics`)).text();
  const count = (result: string) =>
    Number(
      new RegExp(`^x_run_aborts_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
    );
  return {
    aborted: count('aborted'),
    already: count('already_aborted'),
    conflict: count('conflict'),
  };
};

it('abort: 202 for a running run (again 202 when repeated), 409 with the status for a finished one, 404 for another workspace even on the replica that created it', async () => {
  const long = (
    await a().post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(2, 60_000),
      shards: 2,
    })
  ).body.run;
  // This replica created the run (its owner is cached): another workspace still gets 404.
  expect((await b().post(`/runs/${long.id}/abort`)).status).toBe(404);
  const first = await a().post<{ run: RunBody }>(`/runs/${long.id}/abort`);
  expect(first.status).toBe(202);
  expect(first.body.run.status).toBe('aborted');
  const again = await a().post<{ run: RunBody }>(`/runs/${long.id}/abort`);
  expect(again.status).toBe(202);
  expect(again.body.run.status).toBe('aborted');

  const quick = (
    await a().post<{ run: RunBody }>('/runs', { executor: 'demo', tests: demoTests(2, 0) })
  ).body.run;
  await waitFor(
    async () =>
      (await a().get<{ run: RunBody }>(`/runs/${quick.id}`)).body.run.status === 'completed',
    { what: 'the quick run to complete' },
  );
  const late = await a().post<{ error: { code: string; details?: { status?: string } } }>(
    `/runs/${quick.id}/abort`,
  );
  expect(late.status).toBe(409);
  expect(late.body.error.code).toBe('conflict');
  expect(JSON.stringify(late.body)).toContain('completed');
  expect((await a().get<{ run: RunBody }>(`/runs/${quick.id}`)).body.run.status).toBe('completed');
  expect(await abortsByResult()).toEqual({ aborted: 1, already: 1, conflict: 1 });
});
