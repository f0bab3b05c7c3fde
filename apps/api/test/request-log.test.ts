import { PassThrough } from 'node:stream';
import { createLogger } from '@x/app-kit';
import { postgres, type TestDatabase } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config/load-config.js';
import { type RunningApi, startApi } from '../src/start-api.js';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';

const TOKEN = 'token-for-workspace-a-0001';
let db: TestDatabase;
let api: RunningApi;
const lines: Record<string, unknown>[] = [];
let raw = '';

beforeAll(async () => {
  db = await postgres('api_log');
  const config = loadApiConfig({
    PORT: '0',
    DATABASE_URL: db.url,
    API_TOKENS: `ws-a:${TOKEN}`,
    STREAM_TOKEN_SECRET: 's'.repeat(40),
    LOG_LEVEL: 'info',
  });
  const out = new PassThrough();
  out.setEncoding('utf8');
  out.on('data', (chunk: string) => {
    raw += chunk;
    for (const line of chunk.split('\n')) if (line) lines.push(JSON.parse(line));
  });
  api = await startApi(config, createLogger(config.logLevel, {}, out));
});
afterAll(async () => {
  await api?.shutdown('test');
  await db?.close();
});

const requestLines = () => lines.filter((l) => l.msg === 'request');

it('logs each request once with its full path, status and workspace, and never a token', async () => {
  const client = apiClient(api.url, TOKEN);
  const created = await client.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(1, 0),
  });
  expect(created.status).toBe(201);
  const id = created.body.run.id;
  await expect
    .poll(async () => (await client.get<{ run: RunBody }>(`/runs/${id}`)).body.run.status)
    .toBe('completed');
  const { body } = await client.post<{ token: string }>(`/runs/${id}/stream-token`);
  // A finished run's stream ends after its `done`, so its request line is written.
  const stream = await fetch(`${api.url}/api/v1/runs/${id}/events?st=${body.token}`);
  expect(stream.status).toBe(200);
  expect(await stream.text()).toContain('"type":"done"');

  await expect
    .poll(() => requestLines().map((l) => l.path))
    .toEqual(
      expect.arrayContaining([
        '/api/v1/runs',
        `/api/v1/runs/${id}`,
        `/api/v1/runs/${id}/stream-token`,
        `/api/v1/runs/${id}/events`,
      ]),
    );
  const post = requestLines().find((l) => l.method === 'POST' && l.path === '/api/v1/runs');
  expect(post).toMatchObject({ status: 201, workspace: 'ws-a', reqId: expect.any(String) });
  expect(raw).not.toContain(TOKEN);
  expect(raw).not.toContain(body.token);
});

it('labels a route the same in the metrics whether it answered or failed', async () => {
  const client = apiClient(api.url, TOKEN);
  expect((await client.get('/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  expect((await client.get('/runs?limit=0')).status).toBe(400);
  expect((await client.get('/runs')).status).toBe(200);
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const series = (route: string, status: number) =>
    new RegExp(`x_http_requests_total\\{[^}]*route="${route}"[^}]*status="${status}"`);
  expect(text).toMatch(series('/api/v1/runs/:id', 404));
  expect(text).toMatch(series('/api/v1/runs', 400));
  expect(text).toMatch(series('/api/v1/runs', 200));
  expect(text).not.toMatch(/route="\/runs/);
});

it('logs what the outbound guard saw (the resolved address) for the operator, while the caller reads only "address not allowed"', async () => {
  const client = apiClient(api.url, TOKEN);
  const r = await client.post<{ error: { message: string } }>('/runs', {
    executor: 'demo',
    tests: demoTests(1, 0),
    callbackUrl: 'http://localhost/secret-path?token=abc',
  });
  expect(r.status).toBe(400);
  expect(JSON.stringify(r.body)).not.toMatch(/127\.0\.0\.1|::1/);
  await expect
    .poll(() => lines.find((l) => l.msg === 'outbound URL refused'))
    .toMatchObject({
      kind: 'callback',
      host: 'localhost',
      code: 'private_address',
      detail: expect.stringMatching(/localhost resolves to (127\.0\.0\.1|::1)/),
    });
  // The host only: a URL's path or query can hold a caller's secret.
  expect(raw).not.toContain('secret-path');
});
