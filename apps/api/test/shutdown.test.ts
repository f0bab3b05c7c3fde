import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodeProcess, spawnNode } from '@x/testkit';
import { afterAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { API_MAIN } from './support/fleet.js';

const dataDir = mkdtempSync(join(tmpdir(), 'x-shutdown-'));
const TOKEN = 'shutdown-token-0123456789abcdef';
/** The api's graceful-shutdown budget (ShutdownOptions.deadlineMs default). */
const SHUTDOWN_DEADLINE_MS = 10_000;
let proc: NodeProcess | undefined;

afterAll(async () => {
  await proc?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** A raw SSE stream: every byte as received, and when the server ended it. */
function rawStream(url: string) {
  return new Promise<{ text: () => string; ended: Promise<number> }>((resolve, reject) => {
    let text = '';
    const req = request(url, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${TOKEN}` },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`SSE answered ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      const ended = new Promise<number>((done) => {
        res.on('close', () => done(performance.now()));
      });
      resolve({ text: () => text, ended });
    });
    req.end();
  });
}

it('SIGTERM ends open SSE streams with a retry hint and exits 0 within the shutdown deadline', async () => {
  proc = await spawnNode(
    API_MAIN,
    {
      REDIS_URL: '',
      DATABASE_URL: '',
      API_TOKENS: `shutdown:${TOKEN}`,
      STREAM_TOKEN_SECRET: '',
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    { readyLine: /"msg":"listening"/, readyTimeoutMs: 90_000 },
  );
  const url = String(JSON.parse(await proc.waitForLine(/"msg":"listening"/)).url);
  const api = apiClient(url, TOKEN);
  // A run that is still running at SIGTERM: its stream is open, its shard is in flight.
  const run = (
    await api.post<{ run: RunBody }>('/runs', {
      executor: 'demo',
      tests: demoTests(1, 2_000),
      shards: 1,
    })
  ).body.run;
  const stream = await rawStream(`${url}/api/v1/runs/${run.id}/events`);
  const deadline = Date.now() + 10_000;
  while (!stream.text().includes('"running"') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  expect(stream.text()).toContain('"running"');

  const signalled = performance.now();
  proc.child.kill('SIGTERM');
  const endedAt = await stream.ended;
  // Streams end at once, not after the drain: browsers reconnect to another replica.
  expect(endedAt - signalled).toBeLessThan(3_000);
  const lines = stream.text().trimEnd().split('\n');
  expect(lines.at(-1)).toMatch(/^retry: \d+$/);
  expect(stream.text()).not.toContain('"type":"done"');

  const exit = await Promise.race([
    proc.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), SHUTDOWN_DEADLINE_MS + 2_000)),
  ]);
  expect(exit).toEqual({ code: 0, signal: null });
  expect(performance.now() - signalled).toBeLessThan(SHUTDOWN_DEADLINE_MS + 2_000);
  expect(proc.stderr()).not.toMatch(/shutdown failed/);
});
