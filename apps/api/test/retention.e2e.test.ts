import { openPostgres } from '@x/run-store';
import {
  postgres,
  startRedis,
  type TestDatabase,
  type TestRedis,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { FLEET_TOKEN, startApiProcess, statOf } from './support/fleet.js';
import { startInProcessApi, TOKEN_A } from './support/in-process-api.js';

const DAY = 86_400_000;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Moves runs' finish `days` into the past, as if they had finished then. */
async function age(databaseUrl: string, runIds: string[], days: number) {
  const db = openPostgres(databaseUrl, { max: 1 });
  try {
    await db
      .updateTable('runs')
      .set({ finished_at: new Date(Date.now() - days * DAY) })
      .where('id', 'in', runIds)
      .execute();
  } finally {
    await db.destroy();
  }
}

type Api = ReturnType<typeof apiClient>;

async function finishedRun(api: Api, abort: boolean): Promise<string> {
  const created = await api.post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(4, abort ? 60_000 : 5),
    shards: 2,
  });
  expect(created.status).toBe(201);
  const id = created.body.run.id;
  if (abort) expect((await api.post(`/runs/${id}/abort`)).status).toBe(202);
  await waitFor(
    async () =>
      ['completed', 'aborted'].includes(
        (await api.get<{ run: RunBody }>(`/runs/${id}`)).body.run.status,
      ),
    { timeoutMs: 30_000, what: `run ${id} finished` },
  );
  return id;
}

describe('RUN_RETENTION_DAYS through the api', () => {
  it('embedded: a run finished more than RUN_RETENTION_DAYS ago disappears (404, results too); a younger one stays; /metrics counts the rows', async () => {
    const ctx = await startInProcessApi({
      RUN_RETENTION_DAYS: '2',
      RETENTION_SWEEP_INTERVAL_MS: '1000',
    });
    cleanups.push(() => ctx.close());
    const api = apiClient(ctx.api.url, TOKEN_A);
    const old = await finishedRun(api, false);
    const young = await finishedRun(api, true);
    await age(ctx.db.url, [old], 3);
    await age(ctx.db.url, [young], 1);
    await waitFor(async () => (await api.get(`/runs/${old}`)).status === 404, {
      timeoutMs: 20_000,
      what: 'the old run deleted by the sweep',
    });
    expect((await api.get(`/runs/${old}/results`)).status).toBe(404);
    expect((await api.get<{ run: RunBody }>(`/runs/${young}`)).body.run.status).toBe('aborted');
    const metrics = `${ctx.api.metricsUrl ?? ctx.api.url}/metrics`;
    expect(await statOf(metrics, 'retention', 'runsDeleted')).toBe(1);
    expect(await statOf(metrics, 'retention', 'shardsDeleted')).toBe(2);
    expect(await statOf(metrics, 'retention', 'resultsDeleted')).toBe(4);
    expect(await statOf(metrics, 'retention', 'lastSweepMs')).toBeGreaterThanOrEqual(0);
  });

  it('RUN_RETENTION_DAYS=0 keeps everything: no sweep runs, an old run stays', async () => {
    const ctx = await startInProcessApi({
      RUN_RETENTION_DAYS: '0',
      RETENTION_SWEEP_INTERVAL_MS: '1000',
    });
    cleanups.push(() => ctx.close());
    const api = apiClient(ctx.api.url, TOKEN_A);
    const old = await finishedRun(api, false);
    await age(ctx.db.url, [old], 10_000);
    // Three sweep intervals pass; with retention on, the run would be gone after the first.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await api.get(`/runs/${old}`)).status).toBe(200);
    const text = await (await fetch(`${ctx.api.metricsUrl ?? ctx.api.url}/metrics`)).text();
    expect(text).not.toContain('x_retention_stat');
  });

  it('distributed: an api replica (a real process) sweeps with the fleet lease', async () => {
    let redis: TestRedis;
    let db: TestDatabase;
    [redis, db] = await Promise.all([startRedis(), postgres('retention_fleet')]);
    cleanups.push(
      () => redis.close(),
      () => db.close(),
    );
    const { proc, url } = await startApiProcess(
      { REDIS_URL: redis.url, DATABASE_URL: db.url, X_PREFIX: uniqueName('ret') },
      { RUN_RETENTION_DAYS: '1', RETENTION_SWEEP_INTERVAL_MS: '1000' },
    );
    cleanups.push(() => proc.kill('SIGTERM'));
    const api = apiClient(url, FLEET_TOKEN);
    // No worker: the api applies the abort itself, so the run finishes.
    const old = await finishedRun(api, true);
    await age(db.url, [old], 2);
    await waitFor(async () => (await api.get(`/runs/${old}`)).status === 404, {
      timeoutMs: 20_000,
      what: 'the old run deleted by the fleet sweep',
    });
    expect(await statOf(`${url}/metrics`, 'retention', 'runsDeleted')).toBe(1);
    await proc.waitForLine(/"msg":"retention: deleted finished runs"/);
  });
});
