import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTests } from './support/api-client.js';
import { type ApiProcess, FLEET_TOKEN, type FleetEnv, startApiProcess } from './support/fleet.js';

// `Idempotency-Key` across real api processes: two replicas on one PostgreSQL, in the
// distributed mode (Redis) and in the embedded mode (no Redis; each replica runs its own
// in-process worker over the shared database).

const post = (api: ApiProcess, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${api.url}/api/v1/runs`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${FLEET_TOKEN}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify(body),
  });

async function listRuns(api: ApiProcess): Promise<{ id: string }[]> {
  const res = await fetch(`${api.url}/api/v1/runs?limit=200`, {
    headers: { authorization: `Bearer ${FLEET_TOKEN}` },
  });
  return ((await res.json()) as { runs: { id: string }[] }).runs;
}

/** `x_run_idempotent_creates_total` of one replica, by result. */
async function idempotentCreates(api: ApiProcess) {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const read = (result: string) => {
    const m = new RegExp(
      `^x_run_idempotent_creates_total\\{result="${result}"\\} (\\S+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { created: read('created'), replayed: read('replayed') };
}

const stop = (api: ApiProcess | undefined) => api?.proc.kill('SIGTERM');

function idempotencySuite(mode: 'distributed' | 'embedded') {
  let db: TestDatabase;
  let redis: TestRedis | undefined;
  let a: ApiProcess;
  let b: ApiProcess;

  beforeAll(async () => {
    db = await postgres(`idem_${mode}`);
    redis = mode === 'distributed' ? await startRedis() : undefined;
    const env: FleetEnv = {
      REDIS_URL: redis?.url ?? '',
      DATABASE_URL: db.url,
      X_PREFIX: uniqueName('idem'),
    };
    // One after the other: an embedded replica marks runs it finds live at start as
    // interrupted, and there are none yet.
    a = await startApiProcess(env);
    b = await startApiProcess(env);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([stop(a), stop(b)]);
    await redis?.close();
    await db?.close();
  }, 60_000);

  it('20 concurrent creates with one key over two replicas make exactly one run', async () => {
    const body = { executor: 'demo', tests: demoTests(4, 50), shards: 2 };
    const key = `race-${mode}-${Date.now()}`;
    const before = (await listRuns(a)).length;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(i % 2 ? b : a, body, { 'idempotency-key': key })),
    );
    const bodies = await Promise.all(
      answers.map((r) => r.json() as Promise<{ run: { id: string } }>),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    for (const r of answers.filter((r) => r.status === 200))
      expect(r.headers.get('idempotent-replayed')).toBe('true');
    const ids = new Set(bodies.map((x) => x.run.id));
    expect(ids.size).toBe(1);
    expect((await listRuns(b)).length).toBe(before + 1);
    // Both replicas answered (10 each) and counted what they did: one created between them.
    const counts = await Promise.all([a, b].map(idempotentCreates));
    expect(counts.map((c) => c.created + c.replayed)).toEqual([10, 10]);
    expect(counts[0]!.created + counts[1]!.created).toBe(1);
  });

  it('the same key with another body is 422 idempotency_key_reused; the key is per workspace body, not per field order', async () => {
    const key = `reuse-${mode}`;
    const first = await post(
      a,
      { executor: 'demo', tests: demoTests(1, 10) },
      { 'idempotency-key': key },
    );
    expect(first.status).toBe(201);
    const { run } = (await first.json()) as { run: { id: string } };
    // The same JSON value with its keys in another order is the same body.
    const reordered = await post(
      b,
      { tests: demoTests(1, 10), executor: 'demo' },
      { 'idempotency-key': key },
    );
    expect(reordered.status).toBe(200);
    expect(((await reordered.json()) as { run: { id: string } }).run.id).toBe(run.id);
    const other = await post(
      b,
      { executor: 'demo', tests: demoTests(2, 10) },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({
      error: { code: 'idempotency_key_reused', details: { header: 'Idempotency-Key' } },
    });
  });

  it('a key that is too long or malformed is a 400 naming the header, and creates nothing', async () => {
    const before = (await listRuns(a)).length;
    for (const bad of ['k'.repeat(256), 'has space', 'a, b', 'ünïcode']) {
      const res = await post(
        a,
        { executor: 'demo', tests: demoTests(1, 10) },
        { 'idempotency-key': bad },
      );
      expect(res.status, bad).toBe(400);
      const err = (await res.json()) as {
        error: { message: string; details: { issues: { field: string }[] } };
      };
      expect(err.error.message).toContain('Idempotency-Key');
      expect(err.error.details.issues[0]?.field).toBe('Idempotency-Key');
    }
    expect((await listRuns(a)).length).toBe(before);
  });
}

describe('Idempotency-Key, distributed: two api replicas on Redis + PostgreSQL', () => {
  idempotencySuite('distributed');
});

describe('Idempotency-Key, embedded: two api processes on one PostgreSQL', () => {
  idempotencySuite('embedded');
});
