import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodeProcess, spawnNode, waitFor } from '@x/testkit';
import { afterAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { API_MAIN } from './support/fleet.js';

// Embedded mode with DISPATCH_MODE=fair: the process's worker reports every shard end to its
// dispatcher (`shardSettled`), and the dispatcher's counters say so on /metrics.

const dataDir = mkdtempSync(join(tmpdir(), 'x-embedded-fair-'));
let proc: NodeProcess | undefined;

afterAll(async () => {
  await proc?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

it('embedded fair dispatch: a run completes, and the dispatcher counted each of its shard ends', async () => {
  proc = await spawnNode(
    API_MAIN,
    {
      REDIS_URL: '',
      DATABASE_URL: '',
      API_TOKENS: '',
      STREAM_TOKEN_SECRET: '',
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
      DISPATCH_MODE: 'fair',
      WORKER_CONCURRENCY: '2',
    },
    { readyLine: /development token: /, readyTimeoutMs: 90_000 },
  );
  const token = /development token: (\S+)/.exec(await proc.waitForLine(/development token: /))![1]!;
  const url = String(JSON.parse(await proc.waitForLine(/"msg":"listening"/)).url);
  const api = apiClient(url, token);
  const created = await api.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(20, 10, 0),
    shards: 20,
  });
  expect(created.status).toBe(201);
  await waitFor(
    async () =>
      (await api.get<{ run: RunBody }>(`/runs/${created.body.run.id}`)).body.run.status ===
      'completed',
    { timeoutMs: 30_000, what: 'the fair run to complete' },
  );
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const stat = (name: string) =>
    Number(new RegExp(`^x_dispatch_stat\\{stat="${name}"\\} (\\d+)`, 'm').exec(metrics)?.[1]);
  expect(stat('shardsReleased')).toBe(20);
  expect(stat('shardsSettled')).toBe(20);
  expect(stat('settlePasses')).toBeGreaterThan(0);
});
