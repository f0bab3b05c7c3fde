import { openPostgres } from '@x/run-store';
import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import {
  type ApiProcess,
  activeShards,
  type FleetEnv,
  startApiProcess,
  startWorkerProcess,
  statOf,
  stopProcess,
  type WorkerProcess,
} from './support/fleet.js';

// Fair dispatch (DISPATCH_MODE=fair) with real processes: one api, two workers, one
// PostgreSQL and one Redis. Every assertion is on the order of states read from the api, the
// database or the workers' /metrics, never on elapsed milliseconds: a loaded CI machine slows
// every process alike, and the share is counted in shards, not in time.

/** The cap every workspace without its own entry gets (WORKSPACE_MAX_RUNNING_SHARDS). */
const CAP = 3;
/** Slots of each worker; the flood of the first test fills both workers' slots. */
const SLOTS = 8;
const TOKENS = {
  flood: 'flood-token-aaaaaaaaaaaaaaaa',
  victim: 'victim-token-aaaaaaaaaaaaaaa',
  capped: 'capped-token-aaaaaaaaaaaaaaa',
  burst: 'burst-token-aaaaaaaaaaaaaaaa',
} as const;
type Workspace = keyof typeof TOKENS;

/**
 * Identical on the api and every worker (operations.md: the dispatch settings must be).
 * `flood` and `victim` get their own cap far above the fleet's slots, so the first test
 * measures round robin alone; `capped` and `burst` get the default cap.
 */
const FAIR = {
  DISPATCH_MODE: 'fair',
  WORKSPACE_MAX_RUNNING_SHARDS: String(CAP),
  WORKSPACE_LIMITS: 'flood:shards=1000,victim:shards=1000',
  WORKER_CONCURRENCY: String(SLOTS),
  API_TOKENS: Object.entries(TOKENS)
    .map(([ws, token]) => `${ws}:${token}`)
    .join(','),
};

type Run = RunBody & {
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  waitingFor: string | null;
};
const TERMINAL = ['completed', 'failed', 'aborted'];

let redis: TestRedis;
let db: TestDatabase;
let api: ApiProcess;
let workers: WorkerProcess[] = [];
let store: ReturnType<typeof openPostgres>;

const as = (ws: Workspace) => apiClient(api.url, TOKENS[ws]);

async function create(ws: Workspace, body: object): Promise<Run> {
  const r = await as(ws).post<{ run: Run }>('/runs', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.run;
}

const read = async (ws: Workspace, id: string) =>
  (await as(ws).get<{ run: Run }>(`/runs/${id}`)).body.run;

async function runsOf(ws: Workspace): Promise<Run[]> {
  const r = await as(ws).get<{ runs: Run[] }>('/runs?limit=200');
  expect(r.status).toBe(200);
  return r.body.runs;
}

const finished = (ws: Workspace, id: string, timeoutMs = 45_000) =>
  waitFor(
    async () => {
      const run = await read(ws, id);
      return TERMINAL.includes(run.status) ? run : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `run ${id} of ${ws} to finish` },
  );

/**
 * One consistent read of a workspace's shards in the database: `running` (begun, not
 * completed) and `outstanding` (released to the queue and not completed), both of live runs —
 * the dispatcher's own definition of what the cap counts.
 */
async function shardsOf(ws: Workspace): Promise<{ running: number; outstanding: number }> {
  const row = await store
    .selectFrom('run_shards as s')
    .innerJoin('runs as r', 'r.id', 's.run_id')
    .where('r.workspace_id', '=', ws)
    .where('r.status', 'in', ['queued', 'running'])
    .select((eb) => [
      eb.fn.countAll<string>().filterWhere('s.status', '=', 'running').as('running'),
      eb.fn
        .countAll<string>()
        .filterWhere((w) =>
          w.and([w('s.released_at', 'is not', null), w('s.status', '<>', 'completed')]),
        )
        .as('outstanding'),
    ])
    .executeTakeFirstOrThrow();
  return { running: Number(row.running), outstanding: Number(row.outstanding) };
}

interface WorkerStats {
  activeShards: number;
  shardsStarted: number;
  duplicateCompletions: number;
}

/** Several `x_shard_worker_stat` values of one worker from one /metrics page (one instant). */
async function workerStats(w: WorkerProcess): Promise<WorkerStats> {
  const text = await (await fetch(w.metricsUrl)).text();
  const stat = (name: string) => {
    const m = new RegExp(`^x_shard_worker_stat\\{stat="${name}"\\} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`no x_shard_worker_stat ${name} on ${w.metricsUrl}`);
    return Number(m[1]);
  };
  return {
    activeShards: stat('activeShards'),
    shardsStarted: stat('shardsStarted'),
    duplicateCompletions: stat('duplicateCompletions'),
  };
}

const dead = new Set<WorkerProcess>();
const liveWorkers = () => workers.filter((w) => !dead.has(w));
const totalActive = async () =>
  (await Promise.all(liveWorkers().map(activeShards))).reduce((a, b) => a + b, 0);

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), postgres('fair_e2e')]);
  const env: FleetEnv = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('fair'),
  };
  // The api first: it migrates the database.
  api = await startApiProcess(env, FAIR);
  workers = await Promise.all([startWorkerProcess(env, FAIR), startWorkerProcess(env, FAIR)]);
  store = openPostgres(db.url, { max: 2 });
}, 120_000);

afterAll(async () => {
  await store?.destroy();
  await Promise.all([api, ...workers].filter((p) => p).map((p) => stopProcess(p.proc)));
  await redis?.close();
  await db?.close();
}, 60_000);

describe('fair share across workspaces, real processes (DISPATCH_MODE=fair)', () => {
  it('a victim workspace run completes while a flooding workspace still has runs waiting', async () => {
    // 12 runs × 8 shards of 2 s: six rounds of both workers' 16 slots. The victim's shards
    // are released in the next pass and wait behind one window of the flood at most.
    const FLOOD_RUNS = 12;
    const flood: Run[] = [];
    for (let i = 0; i < FLOOD_RUNS; i++) {
      flood.push(
        await create('flood', {
          executor: 'demo',
          tests: demoTests(32, 500, 4),
          shards: 8,
          tags: ['flood'],
        }),
      );
    }
    await waitFor(async () => (await totalActive()) >= 2 * SLOTS, {
      timeoutMs: 30_000,
      what: 'the flood to fill every slot of both workers',
    });

    const victim = await create('victim', { executor: 'demo', tests: demoTests(4, 50), shards: 4 });
    const done = await finished('victim', victim.id);
    // Read right after the victim's end: the flood, created wholly before it, is not through.
    const floodNow = await runsOf('flood');
    expect(done).toMatchObject({
      status: 'completed',
      total: 4,
      passed: 4,
      failed: 0,
      shardsCompleted: 4,
    });
    const byStatus = (status: string) => floodNow.filter((r) => r.status === status).length;
    console.log(
      JSON.stringify({
        fairShareVictim: {
          floodRuns: FLOOD_RUNS,
          atVictimDone: {
            queued: byStatus('queued'),
            running: byStatus('running'),
            completed: byStatus('completed'),
          },
        },
      }),
    );
    expect(floodNow).toHaveLength(FLOOD_RUNS);
    const pending = floodNow.filter((r) => !TERMINAL.includes(r.status));
    expect(pending.length).toBeGreaterThan(0);
    // Stronger than "still running", which FIFO passes too (checked with DISPATCH_MODE=fifo:
    // 11 of 12 flood runs completed, one still running at the victim's end): some flood runs
    // created before the victim have not started a single shard yet — the victim overtook them.
    const notStarted = floodNow.filter((r) => r.status === 'queued' && r.startedAt === null);
    expect(notStarted.length, JSON.stringify(floodNow.map((r) => r.status))).toBeGreaterThan(0);
    for (const r of notStarted)
      expect(Date.parse(r.createdAt)).toBeLessThan(Date.parse(victim.createdAt));

    // Clear the floor for the next tests: bulk abort, every shard stops. The runs not started
    // cannot have finished in between (each shard sleeps 2 s); a running one may have.
    const aborted = await as('flood').post<{ aborted: number }>('/runs/abort', { tag: 'flood' });
    expect(aborted.status).toBe(202);
    expect(aborted.body.aborted).toBeGreaterThanOrEqual(notStarted.length);
    expect(aborted.body.aborted).toBeLessThanOrEqual(pending.length);
    expect((await runsOf('flood')).every((r) => TERMINAL.includes(r.status))).toBe(true);
    await waitFor(async () => (await totalActive()) === 0, {
      timeoutMs: 30_000,
      what: 'the aborted flood to stop on both workers',
    });
  }, 90_000);

  it(`WORKSPACE_MAX_RUNNING_SHARDS=${CAP} holds while a worker is SIGKILLed; the dead worker's slots are released`, async () => {
    // Sampled every 50 ms from the database (one consistent snapshot) and each live worker.
    const seen = {
      running: 0,
      outstanding: 0,
      perWorker: 0,
      survivorAfterKill: 0,
      samples: 0,
      refusedScrapes: 0,
    };
    let killed: WorkerProcess | undefined;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await shardsOf('capped');
        seen.running = Math.max(seen.running, s.running);
        seen.outstanding = Math.max(seen.outstanding, s.outstanding);
        for (const w of liveWorkers()) {
          // The worker being killed may refuse the scrape (counted); it is not sampled after.
          const n = await activeShards(w).catch(() => {
            seen.refusedScrapes++;
            return 0;
          });
          seen.perWorker = Math.max(seen.perWorker, n);
          if (killed && w !== killed) seen.survivorAfterKill = Math.max(seen.survivorAfterKill, n);
        }
        seen.samples++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const base = new Map<WorkerProcess, WorkerStats>();
    for (const w of workers) base.set(w, await workerStats(w));
    // 5 runs × 4 shards of 1.5 s: seven rounds of the cap, though the fleet has 16 slots.
    const runs: Run[] = [];
    for (let i = 0; i < 5; i++) {
      runs.push(
        await create('capped', { executor: 'demo', tests: demoTests(8, 750, 4), shards: 4 }),
      );
    }
    // Kill a worker right after it started a shard (its count of starts grew since the last
    // poll): that shard has most of its 1.5 s left, so it dies in flight, still released and
    // begun in the database, and its job must be handed over by BullMQ's stall check.
    const previous = new Map<WorkerProcess, number>();
    let startedByKilled = 0;
    const victim = await waitFor(
      async () => {
        for (const w of workers) {
          const s = await workerStats(w);
          const before = previous.get(w);
          previous.set(w, s.shardsStarted);
          if (before !== undefined && s.shardsStarted > before && s.activeShards >= 1) {
            startedByKilled = s.shardsStarted - base.get(w)!.shardsStarted;
            return w;
          }
        }
        return undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: 'a worker starting a capped shard' },
    );
    killed = victim;
    dead.add(victim);
    await victim.proc.kill('SIGKILL');

    try {
      for (const run of runs) {
        expect(await finished('capped', run.id, 60_000)).toMatchObject({
          status: 'completed',
          total: 8,
          passed: 6,
          failed: 2,
          shardsCompleted: 4,
        });
      }
    } finally {
      sampling = false;
      await sampler;
    }
    console.log(JSON.stringify({ fairShareCap: { cap: CAP, ...seen } }));
    expect(seen.samples).toBeGreaterThan(10);
    expect(seen.refusedScrapes).toBeLessThanOrEqual(1);
    // The cap was reached and never passed: in the database (released and begun) and on
    // each worker, before and after the kill.
    expect(seen).toMatchObject({ running: CAP, outstanding: CAP, perWorker: CAP });
    // The survivor ran up to the cap after the kill: the dead worker's shards, once BullMQ's
    // stall check handed them over, were completed and stopped counting against the share.
    expect(seen.survivorAfterKill).toBe(CAP);
    // The shard killed in flight was started again by the survivor (or found completed): the
    // two workers' starts cover the 20 shards and more.
    const [survivor] = liveWorkers();
    const end = await workerStats(survivor!);
    const bySurvivor =
      end.shardsStarted -
      base.get(survivor!)!.shardsStarted +
      end.duplicateCompletions -
      base.get(survivor!)!.duplicateCompletions;
    console.log(JSON.stringify({ fairShareKill: { startedByKilled, bySurvivor, shards: 20 } }));
    expect(startedByKilled + bySurvivor).toBeGreaterThan(20);
    expect(await shardsOf('capped')).toEqual({ running: 0, outstanding: 0 });
  }, 90_000);

  it('bulk abort of a capped workspace frees its share at once: its waiting run starts', async () => {
    const [survivor] = liveWorkers();
    expect(survivor).toBeDefined();
    // Shards of 300 s fill the cap; nothing but the abort can free it within this test.
    const flood: Run[] = [];
    for (let i = 0; i < 2; i++) {
      flood.push(
        await create('burst', {
          executor: 'demo',
          tests: demoTests(CAP, 300_000),
          shards: CAP,
          tags: ['burst-flood'],
        }),
      );
    }
    await waitFor(async () => (await activeShards(survivor!)) === CAP, {
      timeoutMs: 30_000,
      what: 'the first burst run to fill the cap',
    });
    const next = await create('burst', { executor: 'demo', tests: demoTests(4, 100), shards: 2 });
    // Several dispatch passes later the new run is still held back by the share, and says so.
    const passes = () => statOf(`${api.url}/metrics`, 'dispatch', 'passes');
    const before = await passes();
    await waitFor(async () => (await passes()) >= before + 4, {
      timeoutMs: 30_000,
      what: 'four dispatch passes on the api',
    });
    const held = await read('burst', next.id);
    expect(held).toMatchObject({
      status: 'queued',
      startedAt: null,
      waitingFor: 'workspace_share',
    });
    expect(await shardsOf('burst')).toEqual({ running: CAP, outstanding: CAP });

    const aborted = await as('burst').post<{ aborted: number }>('/runs/abort', {
      tag: 'burst-flood',
    });
    expect(aborted).toMatchObject({ status: 202, body: { aborted: 2 } });
    const done = await finished('burst', next.id, 30_000);
    expect(done).toMatchObject({
      status: 'completed',
      total: 4,
      passed: 4,
      failed: 0,
      shardsCompleted: 2,
      waitingFor: null,
    });
    // Order of events: every flood run was aborted before the waiting run began.
    for (const f of flood) {
      const r = await read('burst', f.id);
      expect(r.status).toBe('aborted');
      expect(Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(Date.parse(r.finishedAt!));
    }
    await waitFor(async () => (await activeShards(survivor!)) === 0, {
      timeoutMs: 30_000,
      what: 'the aborted shards to stop',
    });
  }, 90_000);
});
