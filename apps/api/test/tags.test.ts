import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
const a = () => apiClient(ctx.api.url, TOKEN_A);
const b = () => apiClient(ctx.api.url, TOKEN_B);

interface TaggedRun {
  id: string;
  status: string;
  tags: string[];
  metadata: Record<string, unknown>;
  createdAt: string;
}
type Issues = { error: { code: string; details: { issues: { field: string }[] } } };

beforeAll(async () => {
  ctx = await startInProcessApi({ RATE_LIMIT_REQUESTS_PER_S: '0' });
});
afterAll(() => ctx?.close());

const create = async (tags?: string[], metadata?: Record<string, unknown>, durationMs = 60_000) => {
  const res = await a().post<{ run: TaggedRun }>('/runs', {
    executor: 'demo',
    tests: demoTests(1, durationMs),
    ...(tags ? { tags } : {}),
    ...(metadata ? { metadata } : {}),
  });
  expect(res.status).toBe(201);
  return res.body.run;
};
const listIds = async (query: string, client = a()) => {
  const res = await client.get<{ runs: TaggedRun[] }>(`/runs?${query}`);
  expect(res.status).toBe(200);
  return res.body.runs.map((r) => r.id);
};

it('stores tags and metadata, returns them on create, get and list', async () => {
  const metadata = { commit: 'abc123', matrix: { node: 20 }, retried: false };
  const run = await create(['branch:main', 'suite.e2e'], metadata);
  expect(run).toMatchObject({ tags: ['branch:main', 'suite.e2e'], metadata });
  expect((await a().get<{ run: TaggedRun }>(`/runs/${run.id}`)).body.run).toMatchObject({
    tags: run.tags,
    metadata,
  });
  const plain = await create();
  expect(plain).toMatchObject({ tags: [], metadata: {} });
  for (const id of [run.id, plain.id]) await a().post(`/runs/${id}/abort`);
});

it('filters by every repeated tag, by repeated status and by creation time; another workspace sees none', async () => {
  const main = await create(['lst', 'branch:main']);
  const dev = await create(['lst', 'branch:dev']);
  const done = await create(['lst', 'branch:main']);
  await a().post(`/runs/${done.id}/abort`);
  expect(await listIds('tag=lst')).toEqual([done.id, dev.id, main.id]);
  expect(await listIds('tag=lst&tag=branch:main')).toEqual([done.id, main.id]);
  expect(await listIds('tag=lst&status=aborted')).toEqual([done.id]);
  expect(await listIds('tag=lst&status=aborted&status=queued&status=running')).toEqual([
    done.id,
    dev.id,
    main.id,
  ]);
  expect(await listIds(`tag=lst&createdAfter=${encodeURIComponent(dev.createdAt)}`)).toEqual([
    done.id,
    dev.id,
  ]);
  expect(await listIds(`tag=lst&createdBefore=${encodeURIComponent(dev.createdAt)}`)).toEqual([
    main.id,
  ]);
  // Paged with the unchanged cursor.
  const first = await a().get<{ runs: TaggedRun[]; nextCursor: string }>('/runs?tag=lst&limit=2');
  const second = await a().get<{ runs: TaggedRun[]; nextCursor: null }>(
    `/runs?tag=lst&limit=2&cursor=${first.body.nextCursor}`,
  );
  expect([...first.body.runs, ...second.body.runs].map((r) => r.id)).toEqual([
    done.id,
    dev.id,
    main.id,
  ]);
  expect(second.body.nextCursor).toBeNull();
  expect(await listIds('tag=lst', b())).toEqual([]);
  for (const id of [main.id, dev.id]) await a().post(`/runs/${id}/abort`);
});

it('answers 400 naming the field for bad tags, metadata and filters', async () => {
  const body = { executor: 'demo', tests: demoTests(1, 10) };
  const bad: [string, unknown, string][] = [
    ['POST', { ...body, tags: ['Has Space'] }, 'tags.0'],
    ['POST', { ...body, tags: ['x'.repeat(65)] }, 'tags.0'],
    ['POST', { ...body, tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
    ['POST', { ...body, tags: ['a', 'a'] }, 'tags'],
    ['POST', { ...body, tags: 'main' }, 'tags'],
    ['POST', { ...body, metadata: [1] }, 'metadata'],
    ['POST', { ...body, metadata: { blob: 'x'.repeat(4_100) } }, 'metadata'],
    ['GET', '/runs?tag=UPPER', 'tag'],
    ['GET', '/runs?status=queued&status=bogus', 'status'],
    ['GET', '/runs?createdAfter=yesterday', 'createdAfter'],
    ['GET', '/runs?createdBefore=2026-13-01T00:00:00Z', 'createdBefore'],
  ];
  for (const [method, input, field] of bad) {
    const res =
      method === 'POST'
        ? await a().post<Issues>('/runs', input)
        : await a().get<Issues>(input as string);
    expect(res.status, `${method} ${field}`).toBe(400);
    expect(res.body.error.code).toBe('invalid_input');
    expect(res.body.error.details.issues.map((i) => i.field.split('.')[0])).toContain(
      field.split('.')[0],
    );
    expect(res.body.error.details.issues.map((i) => i.field)).toContain(field);
  }
});

it('the idempotency fingerprint includes tags and metadata', async () => {
  const body = { executor: 'demo', tests: demoTests(1, 60_000), tags: ['idem'] };
  const key = { 'idempotency-key': `tags-${Date.now()}` };
  const first = await a().request<{ run: TaggedRun }>('POST', '/runs', body, key);
  expect(first.status).toBe(201);
  const replay = await a().request('POST', '/runs', body, key);
  expect(replay.status).toBe(200);
  const otherTags = await a().request('POST', '/runs', { ...body, tags: ['idem', 'x'] }, key);
  expect(otherTags.status).toBe(422);
  const otherMeta = await a().request('POST', '/runs', { ...body, metadata: { a: 1 } }, key);
  expect(otherMeta.status).toBe(422);
  await a().post(`/runs/${first.body.run.id}/abort`);
});
