import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
let redirector: Server;
let target: Server;
let targetHits = 0;
let redirectorHost = '';

const a = () => apiClient(ctx.api.url, TOKEN_A);
const b = () => apiClient(ctx.api.url, TOKEN_B);
const listen = (s: Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

/** Raw request: fetch would normalize `..` segments away before they reach the server. */
function rawGet(path: string, token = TOKEN_A): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(ctx.api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, path, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  target = createServer((_req, res) => {
    targetHits++;
    res.end('secret');
  });
  const targetPort = await listen(target);
  redirector = createServer((_req, res) => {
    res.writeHead(302, { location: `http://127.0.0.1:${targetPort}/secret` }).end();
  });
  redirectorHost = `localhost:${await listen(redirector)}`;
  // Only the redirector is allowed: the redirect target (loopback) must stay unreachable.
  ctx = await startInProcessApi({
    HTTP_ALLOWED_HOSTS: redirectorHost,
    // The fuzz suites send hundreds of requests a second from one workspace: limits are
    // tested in rate-limits.test.ts.
    RATE_LIMIT_REQUESTS_PER_S: '0',
  });
});

afterAll(async () => {
  await ctx?.close();
  redirector?.close();
  target?.close();
});

describe('bodies', () => {
  it('answers 400 invalid_input for malformed JSON', async () => {
    const r = await a().request('POST', '/runs', '{"executor": "demo", tests: [', {});
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        code: 'invalid_input',
        message: 'request body is not valid JSON',
        details: { issues: [{ field: 'body', message: 'request body is not valid JSON' }] },
      },
    });
  });

  it('answers 400 for JSON that is not an object, saying so (it is valid JSON)', async () => {
    for (const body of ['"just a string"', '[1,2,3]', '[]', 'null', '42']) {
      const r = await a().request<{ error: { message: string; details: unknown } }>(
        'POST',
        '/runs',
        body,
      );
      expect(r.status, body).toBe(400);
      expect(r.body.error.message, body).toBe('request body must be a JSON object');
      expect(r.body.error.details, body).toEqual({
        issues: [{ field: 'body', message: 'request body must be a JSON object' }],
      });
    }
  });

  it('stores a name of only spaces as no name', async () => {
    const r = await a().post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      name: '   ',
      tests: demoTests(1, 0),
    });
    expect(r.status).toBe(201);
    expect(r.body.run.name).toBeNull();
  });

  it('names an unknown field itself, at any depth', async () => {
    const r = await a().post<{ error: { details: { issues: { field: string }[] } } }>('/runs', {
      executor: 'demo',
      tests: [{ name: 'a', durationMs: 1, url: 'http://x' }],
      extra: 1,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues.map((i) => i.field).sort()).toEqual([
      'extra',
      'tests.0.url',
    ]);
  });

  it('names every bad field in one 400', async () => {
    const r = await a().post<{
      error: { message: string; details: { issues: { field: string }[] } };
    }>('/runs', {
      executor: 'demo',
      tests: [
        { name: '', durationMs: 'slow' },
        { name: 'ok', durationMs: -1 },
      ],
      shards: 0,
      name: 'x'.repeat(201),
      callbackUrl: 'ftp://example.com/',
    });
    expect(r.status).toBe(400);
    const fields = r.body.error.details.issues.map((i) => i.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'tests.0.name',
        'tests.0.durationMs',
        'tests.1.durationMs',
        'shards',
        'name',
        'callbackUrl',
      ]),
    );
    expect(r.body.error.message).toContain('tests.0.durationMs');
  });

  it('refuses an unknown executor, unknown fields and wrong types with 400', async () => {
    for (const body of [
      { executor: 'shell', tests: [{ name: 'x' }] },
      { executor: 'demo', tests: 'all of them' },
      { executor: 'demo', tests: [{ name: 'a', durationMs: 1, rm: '-rf /' }] },
      { executor: 'demo', tests: [{ name: 'a', durationMs: 1 }], shards: '2' },
      { executor: 'demo', tests: [] },
      { executor: 'http', tests: [{ name: 'a', url: 'file:///etc/passwd' }] },
      {},
    ]) {
      const r = await a().post('/runs', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'invalid_input' } });
    }
  });

  it('caps a run at 10,000 tests and 64 shards, and shards at the number of tests', async () => {
    expect(
      (await a().post('/runs', { executor: 'demo', tests: demoTests(10_001, 0) })).status,
    ).toBe(400);
    expect(
      (await a().post('/runs', { executor: 'demo', tests: demoTests(100, 0), shards: 65 })).status,
    ).toBe(400);
    const r = await a().post<{ error: { details: { issues: { field: string }[] } } }>('/runs', {
      executor: 'demo',
      tests: demoTests(2, 0),
      shards: 3,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0]?.field).toBe('shards');
  });

  it('bounds demo runs: 10 minutes a test, 10 failing attempts, 1 hour of planned time a run', async () => {
    type Refusal = { error: { details: { issues: { field: string; message: string }[] } } };
    const fields = (r: { body: Refusal }) => r.body.error.details.issues.map((i) => i.field);
    const long = await a().post<Refusal>('/runs', {
      executor: 'demo',
      tests: demoTests(1, 600_001),
    });
    expect(long.status).toBe(400);
    expect(fields(long)).toEqual(['tests.0.durationMs']);
    const stubborn = await a().post<Refusal>('/runs', {
      executor: 'demo',
      tests: [{ name: 'a', durationMs: 1, failAttempts: 11 }],
    });
    expect(fields(stubborn)).toEqual(['tests.0.failAttempts']);
    // The review's run: 10,000 tests of 10 minutes, which would stay live for ten weeks.
    const weeks = await a().post<Refusal>('/runs', {
      executor: 'demo',
      tests: demoTests(10_000, 600_000),
    });
    expect(weeks.status).toBe(400);
    expect(weeks.body.error.details.issues).toEqual([
      {
        field: 'tests',
        message:
          "the tests' durationMs add up to 6000000000 ms; a run may plan at most 3600000 ms (1 hour)",
      },
    ]);
    const overHour = await a().post<Refusal>('/runs', {
      executor: 'demo',
      tests: [...demoTests(6, 600_000), { name: 'one more', durationMs: 1 }],
    });
    expect(fields(overHour)).toEqual(['tests']);
  });

  it('answers 413 for a body over 1 MiB', async () => {
    const r = await a().request(
      'POST',
      '/runs',
      JSON.stringify({ executor: 'demo', pad: 'x'.repeat(1_100_000) }),
    );
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('answers 415 for a body that is not application/json', async () => {
    const r = await a().request('POST', '/runs', 'executor=demo', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(r.status).toBe(415);
    const r2 = await a().request('POST', '/runs', '{"executor":"demo"}', {
      'content-type': 'text/plain',
    });
    expect(r2.status).toBe(415);
  });

  it('refuses bad query parameters with 400 naming them', async () => {
    for (const q of [
      'limit=abc',
      'limit=0',
      'limit=100000',
      'status=exploded',
      'cursor=not-a-real-cursor',
      // `status` and `tag` repeat (issue 20); the other parameters do not.
      'limit=5&limit=6',
      'tag=Not%20A%20Tag',
      'createdAfter=soon',
    ]) {
      const r = await a().get<{
        error: { code: string; message: string; details: { issues: { field: string }[] } };
      }>(`/runs?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('invalid_input');
      // One shape for every 400, whichever layer refused it (a forged cursor: the store).
      const field = q.split('=')[0];
      expect(
        r.body.error.details.issues.map((i) => i.field),
        q,
      ).toContain(field);
    }
  });
});

describe('cursors', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  /** Seeded, so a failing cursor reproduces. */
  function* junkCursors(count: number): Generator<string> {
    let seed = 1414;
    const next = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 4_294_967_296;
    };
    // Neither a time a run was created at nor a shard index.
    const badTimes = [1e20, -1e20, 8.64e15, 9e15, -1, 1.5, 2 ** 53 + 2, -0.5];
    const badIndexes = [...badTimes, 3_000_000_000, 2_147_483_648];
    const wrong = [null, true, {}, [], 'r', '1', ...badIndexes];
    const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
    for (let i = 0; i < count; i++) {
      const kind = i % 5;
      if (kind === 0) {
        const bytes = Buffer.alloc(1 + Math.floor(next() * 80));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
        yield i % 2 ? bytes.toString('base64url') : bytes.toString('latin1');
      } else if (kind === 1)
        yield b64(['r', pick(badTimes), '3f0e9a2c-4b1d-4c8e-9f6a-0d2b7e5c1a93']);
      else if (kind === 2) yield b64(['s', pick(badIndexes), '1']);
      else if (kind === 3) yield b64(['s', 0, pick(['99999999999999999999', '-1', 7, null])]);
      else yield b64([pick(['r', 's', 1]), pick(wrong), pick(wrong), ...(i % 2 ? ['extra'] : [])]);
    }
  }

  it('answers every tampered cursor of both routes with 400 naming cursor, never a 500 or a database message', async () => {
    const run = (
      await a().post<{ run: RunBody }>('/runs', { executor: 'demo', tests: demoTests(1, 0) })
    ).body.run;
    const review = [
      ...[1e20, -1e20, 8.64e15, 9e15].map((n) => b64(['r', n, run.id])),
      b64(['s', 3_000_000_000, '1']),
    ];
    for (const cursor of [...review, ...junkCursors(200)]) {
      for (const path of ['/runs', `/runs/${run.id}/results`]) {
        const r = await a().get<{
          error: { code: string; message: string; details: { issues: { field: string }[] } };
        }>(`${path}?cursor=${encodeURIComponent(cursor)}`);
        expect(r.status, `${path} ${cursor}`).toBe(400);
        expect(r.body.error.code).toBe('invalid_input');
        expect(
          r.body.error.details.issues.map((i) => i.field),
          cursor,
        ).toEqual(['cursor']);
        expect(r.body.error.message, cursor).not.toMatch(/out of range|integer|time value/i);
      }
    }
  });
});

describe('credentials', () => {
  let runOfA: RunBody;
  beforeAll(async () => {
    runOfA = (
      await a().post<{ run: RunBody }>('/runs', { executor: 'demo', tests: demoTests(2, 0) })
    ).body.run;
  });

  it('answers 401 without a token and with a wrong one', async () => {
    expect((await apiClient(ctx.api.url).get('/runs')).status).toBe(401);
    expect((await apiClient(ctx.api.url, 'token-for-workspace-a-0009').get('/runs')).status).toBe(
      401,
    );
    const basic = await apiClient(ctx.api.url).request('GET', '/runs', undefined, {
      authorization: `Basic ${TOKEN_A}`,
    });
    expect(basic.status).toBe(401);
    expect(basic.body).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it("answers 404 for another workspace's run, on every route", async () => {
    expect((await b().get(`/runs/${runOfA.id}`)).status).toBe(404);
    expect((await b().get(`/runs/${runOfA.id}/results`)).status).toBe(404);
    expect((await b().post(`/runs/${runOfA.id}/abort`)).status).toBe(404);
    expect((await b().post(`/runs/${runOfA.id}/stream-token`)).status).toBe(404);
    expect((await b().get(`/runs/${runOfA.id}/events`)).status).toBe(404);
    expect((await b().get<{ runs: RunBody[] }>('/runs')).body.runs.map((r) => r.id)).not.toContain(
      runOfA.id,
    );
  });

  it('accepts a stream token only for its own run and only on the events route', async () => {
    const other = (
      await a().post<{ run: RunBody }>('/runs', { executor: 'demo', tests: demoTests(1, 0) })
    ).body.run;
    const { token } = (await a().post<{ token: string }>(`/runs/${runOfA.id}/stream-token`)).body;
    const noAuth = apiClient(ctx.api.url);
    expect(
      (await noAuth.get(`/runs/${other.id}/events?st=${encodeURIComponent(token)}`)).status,
    ).toBe(401);
    expect((await noAuth.get(`/runs/${runOfA.id}?st=${encodeURIComponent(token)}`)).status).toBe(
      401,
    );
    const tampered = token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect(
      (await noAuth.get(`/runs/${runOfA.id}/events?st=${encodeURIComponent(tampered)}`)).status,
    ).toBe(401);
    expect((await noAuth.get(`/runs/${runOfA.id}/events?st=`)).status).toBe(401);
  });
});

describe('ids and paths', () => {
  it('answers 404 for junk ids and traversal attempts, never 500', async () => {
    for (const id of [
      'not-a-uuid',
      "1' OR '1'='1",
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '00000000-0000-0000-0000-000000000000',
      'x'.repeat(5000),
    ]) {
      for (const path of [`/runs/${id}`, `/runs/${id}/results`, `/runs/${id}/events`]) {
        const r = await a().get(path);
        expect([400, 404], `${path} -> ${r.status}`).toContain(r.status);
      }
      expect([400, 404]).toContain((await a().post(`/runs/${id}/abort`)).status);
    }
  });

  it('never serves files for ../ paths or malformed escapes', async () => {
    for (const path of [
      '/api/v1/runs/../../../../etc/passwd',
      '/api/v1/runs/%E0%A4%A',
      '/../../etc/passwd',
      '/api/v1/runs/..%2f..%2fpackage.json',
    ]) {
      const r = await rawGet(path);
      expect([400, 401, 404], `${path} -> ${r.status}`).toContain(r.status);
      expect(r.body).not.toMatch(/root:|"name":/);
    }
  });
});

describe('outbound URLs (SSRF)', () => {
  const refused = [
    'http://127.0.0.1/',
    'http://127.1.2.3:8080/x',
    'http://10.1.2.3/',
    'http://172.16.5.4/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/',
    'http://[fe80::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://0.0.0.0/',
    'http://localhost/',
  ];

  it.each(refused)('refuses callbackUrl %s with a 400 naming callbackUrl', async (url) => {
    const r = await a().post<{ error: { details: { issues: { field: string }[] } } }>('/runs', {
      executor: 'demo',
      tests: demoTests(1, 0),
      callbackUrl: url,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues.map((i) => i.field)).toEqual(['callbackUrl']);
  });

  it('refuses http tests aimed at private addresses, naming each test', async () => {
    const tests = refused.map((url, i) => ({ name: `t${i}`, url }));
    const r = await a().post<{ error: { details: { issues: { field: string }[] } } }>('/runs', {
      executor: 'http',
      tests,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues.map((i) => i.field)).toEqual(
      refused.map((_, i) => `tests.${i}.url`),
    );
  });

  it('says only "address not allowed", and answers a name that does not resolve the same way', async () => {
    type Refusal = { error: { message: string; details: { issues: unknown[] } } };
    const create = (body: object) => a().post<Refusal>('/runs', body);
    const internal = await create({
      executor: 'demo',
      tests: demoTests(1, 0),
      callbackUrl: 'http://localhost/',
    });
    const missing = await create({
      executor: 'demo',
      tests: demoTests(1, 0),
      callbackUrl: 'http://no-such-host.invalid/',
    });
    for (const r of [internal, missing]) {
      expect(r.status).toBe(400);
      expect(r.body.error.details.issues).toEqual([
        { field: 'callbackUrl', message: 'address not allowed' },
      ]);
    }
    // Not even the loopback address the name resolved to.
    expect(JSON.stringify(internal.body)).not.toMatch(/127\.0\.0\.1|::1|loopback/);
    const tests = await create({
      executor: 'http',
      tests: [
        { name: 'internal', url: 'http://localhost:9/' },
        { name: 'missing', url: 'http://no-such-host.invalid/' },
      ],
    });
    expect(tests.status).toBe(400);
    expect(tests.body.error.details.issues).toEqual([
      { field: 'tests.0.url', message: 'address not allowed' },
      { field: 'tests.1.url', message: 'address not allowed' },
    ]);
  });

  it('does not follow a redirect from an allowed host to a private address', async () => {
    const r = await a().post<{ run: RunBody }>('/runs', {
      executor: 'http',
      tests: [{ name: 'redirects', url: `http://${redirectorHost}/go` }],
    });
    expect(r.status).toBe(201);
    const run = await waitFor(
      async () => {
        const got = (await a().get<{ run: RunBody }>(`/runs/${r.body.run.id}`)).body.run;
        return got.status === 'completed' ? got : undefined;
      },
      { timeoutMs: 20_000, what: 'the http run to complete' },
    );
    expect(run).toMatchObject({ passed: 0, failed: 1 });
    const results = (await a().get<{ results: { error: string }[] }>(`/runs/${run.id}/results`))
      .body.results;
    expect(results[0]?.error).toMatch(/302/);
    expect(targetHits).toBe(0);
  });
});

it('answered no request of this suite with a 500', async () => {
  const text = await (await fetch(`${ctx.api.url}/metrics`)).text();
  expect(text).toMatch(/^x_http_internal_errors_total 0$/m);
  expect(text).not.toMatch(/x_http_requests_total\{[^}]*status="5\d\d"/);
});
