import { freePort } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Run, type XClient, XClientError } from '../src/index.js';
import { type ApiProcess, demoTests, startApi, TOKEN, tempDataDir } from './support/processes.js';
import { collect, recordingFetch } from './support/traffic.js';

const data = tempDataDir('runs');
let api: ApiProcess;
let x: XClient;
const traffic = recordingFetch();

beforeAll(async () => {
  api = await startApi({ DATA_DIR: data.dir });
  x = createClient({ baseUrl: api.url, token: TOKEN, fetch: traffic.fetch });
});

afterAll(async () => {
  await api?.stop();
  data.remove();
});

async function waitFinished(id: string): Promise<Run> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = await x.runs.get(id);
    if (!['queued', 'running'].includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} still ${run.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('runs', () => {
  it('create sends the Idempotency-Key header and answers the run; get reads it back', async () => {
    const run = await x.runs.create(
      { executor: 'demo', tests: demoTests(3, 10), name: 'first' },
      { idempotencyKey: 'key-123' },
    );
    expect(run).toMatchObject({ executor: 'demo', name: 'first', total: 3 });
    const sent = traffic.log.findLast((e) => e.method === 'POST' && e.path === '/api/v1/runs');
    expect(sent?.headers.get('idempotency-key')).toBe('key-123');
    expect(sent?.headers.get('authorization')).toBe(`Bearer ${TOKEN}`);
    expect((await x.runs.get(run.id)).id).toBe(run.id);
    expect(await waitFinished(run.id)).toMatchObject({ status: 'completed', passed: 3 });
  });

  it('list follows the cursors over several pages, filtered by status', async () => {
    const created = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        x.runs.create({ executor: 'demo', tests: demoTests(1, 1), name: `page ${i}` }),
      ),
    );
    await Promise.all(created.map((r) => waitFinished(r.id)));
    const before = traffic.log.length;
    const runs = await collect(x.runs.list({ status: 'completed', limit: 2 }));
    const pages = traffic.log.slice(before).filter((e) => e.path === '/api/v1/runs');
    // 6 completed runs (5 + the first test's), 2 a page: 3 pages, the last one saying so.
    expect(runs.map((r) => r.id)).toEqual(expect.arrayContaining(created.map((r) => r.id)));
    expect(runs).toHaveLength(6);
    expect(new Set(runs.map((r) => r.id)).size).toBe(6);
    expect(runs.every((r) => r.status === 'completed')).toBe(true);
    expect(pages.map((p) => p.query.get('limit'))).toEqual(['2', '2', '2']);
    expect(pages[0]!.query.has('cursor')).toBe(false);
    expect(pages[1]!.query.get('cursor')).toBeTruthy();
    expect(await collect(x.runs.list({ status: 'aborted' }))).toEqual([]);
  });

  it('list filters by tags, several statuses and creation time; tags and metadata come back', async () => {
    const since = new Date(Date.now() - 1_000);
    const tagged = await x.runs.create({
      executor: 'demo',
      tests: demoTests(1, 1),
      tags: ['client:list', 'branch:main'],
      metadata: { commit: 'c0ffee' },
    });
    expect(tagged).toMatchObject({
      tags: ['client:list', 'branch:main'],
      metadata: { commit: 'c0ffee' },
    });
    await x.runs.create({ executor: 'demo', tests: demoTests(1, 1), tags: ['client:list'] });
    await waitFinished(tagged.id);
    const before = traffic.log.length;
    const runs = await collect(
      x.runs.list({
        tags: ['client:list', 'branch:main'],
        status: ['completed', 'failed'],
        createdAfter: since,
      }),
    );
    expect(runs.map((r) => r.id)).toEqual([tagged.id]);
    const sent = traffic.log.slice(before).find((e) => e.path === '/api/v1/runs');
    expect(sent?.query.getAll('tag')).toEqual(['client:list', 'branch:main']);
    expect(sent?.query.getAll('status')).toEqual(['completed', 'failed']);
    expect(sent?.query.get('createdAfter')).toBe(since.toISOString());
    expect(await collect(x.runs.list({ tags: ['client:list'], createdBefore: since }))).toEqual([]);
  });

  it('abortMany aborts the matching live runs and answers how many; an empty filter is invalid_input', async () => {
    const runs = await Promise.all(
      Array.from({ length: 3 }, () =>
        x.runs.create({ executor: 'demo', tests: demoTests(1, 60_000), tags: ['client:bulk'] }),
      ),
    );
    expect(await x.runs.abortMany({ tag: 'client:bulk' })).toBe(3);
    expect(await x.runs.abortMany({ tag: 'client:bulk', status: ['queued', 'running'] })).toBe(0);
    for (const run of runs) expect((await x.runs.get(run.id)).status).toBe('aborted');
    const refused = await x.runs.abortMany({}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(XClientError);
    expect(refused).toMatchObject({ code: 'invalid_input', status: 400 });
  });

  it('list stops fetching when the loop breaks', async () => {
    const before = traffic.log.length;
    for await (const run of x.runs.list({ limit: 1 })) {
      expect(run.id).toBeTruthy();
      break;
    }
    expect(traffic.log.slice(before)).toHaveLength(1);
  });

  it('results follows the cursors: every result once', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(7, 1, 3), shards: 2 });
    await waitFinished(run.id);
    const before = traffic.log.length;
    const results = await collect(x.runs.results(run.id, { limit: 3 }));
    expect(traffic.log.slice(before)).toHaveLength(3);
    expect(results).toHaveLength(7);
    expect(new Set(results.map((r) => r.testId)).size).toBe(7);
    expect(results.filter((r) => r.status === 'failed')).toHaveLength(2);
    expect(results[0]).toMatchObject({ shardIndex: expect.any(Number), attempt: 1 });
  });

  it('abort answers the aborted run, again on a repeat; a completed run is a conflict', async () => {
    const run = await x.runs.create({ executor: 'demo', tests: demoTests(2, 30_000) });
    expect((await x.runs.abort(run.id)).status).toBe('aborted');
    expect((await x.runs.abort(run.id)).status).toBe('aborted');
    const done = await x.runs.create({ executor: 'demo', tests: demoTests(1, 1) });
    await waitFinished(done.id);
    const err = await x.runs.abort(done.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XClientError);
    expect(err).toMatchObject({ code: 'conflict', status: 409, details: { status: 'completed' } });
  });
});

describe('errors', () => {
  it("carry the API's code, status, message and details", async () => {
    const missing = await x.runs.get('00000000-0000-4000-8000-000000000000').catch((e) => e);
    expect(missing).toBeInstanceOf(XClientError);
    expect(missing).toMatchObject({ name: 'XClientError', code: 'not_found', status: 404 });
    // @ts-expect-error: an executor the API does not know
    const bad = await x.runs.create({ executor: 'nope', tests: [] }).catch((e) => e);
    expect(bad).toMatchObject({ code: 'invalid_input', status: 400 });
    expect(bad.message).toMatch(/executor/);
    expect(bad.details.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: expect.any(String) })]),
    );
    const wrongToken = createClient({ baseUrl: api.url, token: 'not-a-token-of-this-api' });
    await expect(wrongToken.runs.get('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject(
      { code: 'unauthorized', status: 401 },
    );
  });

  it('a request that gets no answer is a network_error with status 0', async () => {
    // A port nothing listens on.
    const nowhere = createClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, token: TOKEN });
    const err = await nowhere.runs.get('00000000-0000-4000-8000-000000000000').catch((e) => e);
    expect(err).toBeInstanceOf(XClientError);
    expect(err).toMatchObject({ code: 'network_error', status: 0 });
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('an aborted call rejects with the signal reason, not a client error', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('changed my mind'));
    await expect(x.runs.get('00000000-0000-4000-8000-000000000000', ctl)).rejects.toThrow(
      'changed my mind',
    );
  });

  it('refuses a relative baseUrl and an empty token at creation', () => {
    expect(() => createClient({ baseUrl: '/api', token: TOKEN })).toThrow();
    expect(() => createClient({ baseUrl: api.url, token: '' })).toThrow(/token/);
  });
});

// Last: the runs it creates would change the counts the list tests above expect.
describe('idempotency', () => {
  it('create with the same idempotencyKey answers the first run (embedded api, PGlite); another body is idempotency_key_reused', async () => {
    const body = { executor: 'demo' as const, tests: demoTests(2, 10), name: 'once' };
    const key = `retry-${Date.now()}`;
    const first = await x.runs.create(body, { idempotencyKey: key });
    // A retry after a timeout: same key, same body, possibly concurrent with others.
    const again = await Promise.all(
      [1, 2, 3].map(() => x.runs.create(body, { idempotencyKey: key })),
    );
    expect(again.map((r) => r.id)).toEqual([first.id, first.id, first.id]);
    const replay = traffic.log.findLast((e) => e.method === 'POST' && e.path === '/api/v1/runs');
    expect(replay?.status).toBe(200);
    const err = await x.runs
      .create({ ...body, name: 'changed' }, { idempotencyKey: key })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XClientError);
    expect(err).toMatchObject({ code: 'idempotency_key_reused', status: 422 });
    const bad = await x.runs.create(body, { idempotencyKey: 'has space' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'invalid_input', status: 400 });
  });
});
