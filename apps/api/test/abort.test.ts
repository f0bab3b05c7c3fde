import { waitFor } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { type CallbackReceiver, callbackReceiver } from './support/callback-receiver.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';
import { openSse } from './support/sse-client.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
let receiver: CallbackReceiver;
const a = () => apiClient(ctx.api.url, TOKEN_A);
const b = () => apiClient(ctx.api.url, TOKEN_B);

beforeAll(async () => {
  receiver = await callbackReceiver();
  ctx = await startInProcessApi({ CALLBACK_ALLOWED_HOSTS: receiver.host });
});
afterAll(async () => {
  await ctx?.close();
  await receiver?.close();
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

it('abort with a callbackUrl: the 202 carries the written run; one done, one callback (the in-process worker\u2019s outbox), whatever the repeats; an unknown run is 404', async () => {
  const run = (
    await a().post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(2, 60_000),
      shards: 2,
      callbackUrl: receiver.url,
    })
  ).body.run;
  const first = await a().post<{
    run: RunBody & { error: string | null; finishedAt: string | null };
  }>(`/runs/${run.id}/abort`);
  expect(first.status).toBe(202);
  expect(first.body.run).toMatchObject({ id: run.id, status: 'aborted', error: 'aborted by ws-a' });
  expect(first.body.run.finishedAt).not.toBeNull();
  const again = await a().post<{ run: RunBody }>(`/runs/${run.id.toUpperCase()}/abort`);
  expect(again.status).toBe(202);
  expect(again.body.run).toEqual(first.body.run);

  await waitFor(() => receiver.bodiesOf(run.id).length > 0, { what: 'the abort callback' });
  const { token } = (await a().post<{ token: string }>(`/runs/${run.id}/stream-token`)).body;
  const stream = await openSse(
    `${ctx.api.url}/api/v1/runs/${run.id}/events?st=${token}&lastEventId=0`,
  );
  await stream.ended;
  const done = stream.frames.filter((f) => f.data.type === 'done');
  expect(done.map((f) => f.data.status)).toEqual(['aborted']);
  await new Promise((r) => setTimeout(r, 300));
  expect(receiver.bodiesOf(run.id)).toEqual([
    expect.objectContaining({ status: 'aborted', error: 'aborted by ws-a' }),
  ]);

  const unknown = await a().post<{ error: { code: string } }>(
    '/runs/00000000-0000-4000-8000-00000000abcd/abort',
  );
  expect(unknown.status).toBe(404);
  expect(unknown.body.error.code).toBe('not_found');
});
