import { waitFor } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
const a = () => apiClient(ctx.api.url, TOKEN_A);
const b = () => apiClient(ctx.api.url, TOKEN_B);
type Issues = { error: { code: string; details: { issues: { field: string }[] } } };

beforeAll(async () => {
  ctx = await startInProcessApi({ RATE_LIMIT_REQUESTS_PER_S: '0', WORKER_CONCURRENCY: '4' });
});
afterAll(() => ctx?.close());

const create = async (client: ReturnType<typeof apiClient>, tags: string[]) => {
  const res = await client.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(1, 60_000),
    tags,
  });
  expect(res.status).toBe(201);
  return res.body.run;
};
const statusOf = async (client: ReturnType<typeof apiClient>, id: string) =>
  (await client.get<{ run: RunBody }>(`/runs/${id}`)).body.run.status;
const metric = async (name: string) => {
  const text = await (await fetch(`${ctx.api.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
};

it('refuses an empty filter, an unknown field and bad values with 400, aborting nothing', async () => {
  const run = await create(a(), ['keep']);
  const refusals: [unknown, string][] = [
    [{}, 'body'],
    [{ status: [] }, 'status'],
    [{ tags: 'keep' }, 'tags'],
    [{ tag: 'Keep Me' }, 'tag'],
    [{ status: ['completed'] }, 'status.0'],
    [{ tag: ['keep'] }, 'tag'],
  ];
  for (const [body, field] of refusals) {
    const res = await a().post<Issues>('/runs/abort', body);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(res.body.error.details.issues.map((i) => i.field)).toContain(field);
  }
  expect((await a().post<Issues>('/runs/abort')).status).toBe(400);
  expect(await statusOf(a(), run.id)).not.toBe('aborted');
  await a().post(`/runs/${run.id}/abort`);
});

it('aborts exactly the matching live runs of the workspace, once; a repeat aborts 0', async () => {
  const before = {
    calls: await metric('x_run_bulk_aborts_total'),
    runs: await metric('x_run_bulk_aborted_runs_total'),
  };
  // A finished run with the tag is not aborted (created first: the long runs fill the worker).
  const finished = await a().post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(1, 1),
    tags: ['batch:7'],
  });
  await waitFor(async () => (await statusOf(a(), finished.body.run.id)) === 'completed', {
    what: 'the short run to complete',
  });
  // 105 matching runs: more than one page of 100; some running, the rest queued.
  const matching = [];
  for (let i = 0; i < 105; i++) matching.push(await create(a(), ['batch:7', `n${i % 3}`]));
  const otherTag = await create(a(), ['batch:8']);
  const otherWorkspace = await create(b(), ['batch:7']);

  const res = await a().post<{ aborted: number }>('/runs/abort', { tag: 'batch:7' });
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ aborted: 105 });
  for (const run of matching) expect(await statusOf(a(), run.id)).toBe('aborted');
  expect(await statusOf(a(), otherTag.id)).not.toBe('aborted');
  expect(await statusOf(b(), otherWorkspace.id)).not.toBe('aborted');
  expect(await statusOf(a(), finished.body.run.id)).toBe('completed');

  const again = await a().post<{ aborted: number }>('/runs/abort', { tag: 'batch:7' });
  expect(again).toMatchObject({ status: 202, body: { aborted: 0 } });
  expect(await metric('x_run_bulk_aborts_total')).toBe(before.calls + 2);
  expect(await metric('x_run_bulk_aborted_runs_total')).toBe(before.runs + 105);

  // Tag and status together; the other workspace's run with the tag is not reachable.
  const both = await a().post<{ aborted: number }>('/runs/abort', {
    tag: 'batch:8',
    status: ['queued', 'running'],
  });
  expect(both).toMatchObject({ status: 202, body: { aborted: 1 } });
  expect(await statusOf(a(), otherTag.id)).toBe('aborted');
  expect(await statusOf(b(), otherWorkspace.id)).not.toBe('aborted');
  await b().post(`/runs/${otherWorkspace.id}/abort`);
});
