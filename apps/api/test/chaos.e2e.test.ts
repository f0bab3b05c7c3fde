import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { type CallbackReceiver, callbackReceiver } from './support/callback-receiver.js';
import { type RunWatcher, verdictOf, watchRun } from './support/es-watcher.js';
import {
  type ApiProcess,
  FLEET_TOKEN,
  type FleetEnv,
  restartApiProcess,
  startFleet,
  startWorkerProcess,
  stopProcess,
  type WorkerProcess,
} from './support/fleet.js';

// The chaos run of issue 15: two api replicas, two workers, a private Redis with an
// append-only file and PostgreSQL, all real processes. Runs are created continuously, each
// followed by a plain EventSource, while faults rotate: a worker SIGKILLed (and started
// again), an api replica restarted (same port), Redis killed and restarted with its data.
// CI size by default; CHAOS_DURATION_MS=300000 for a run of a few minutes.

const DURATION_MS = Number(process.env.CHAOS_DURATION_MS ?? 60_000);
const FAULT_EVERY_MS = Number(process.env.CHAOS_FAULT_EVERY_MS ?? 6_000);
const CREATE_EVERY_MS = 1_000;
const REDIS_DOWN_MS = 2_000;
const TESTS = 12;
const TEST_MS = 150;
const SHARDS = 3;

let redis: TestRedis;
let db: TestDatabase;
let env: FleetEnv;
let receiver: CallbackReceiver;
let apiExtra: Record<string, string>;
let workerExtra: Record<string, string>;
const apis: ApiProcess[] = [];
/** False while a replica restarts: nothing new is sent to it (a load balancer's view). */
const apiUp = [true, true];
const workers: WorkerProcess[] = [];

interface Created {
  run: RunBody;
  watcher: RunWatcher;
  /** When its watcher started, ms into the test. */
  atMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `fn` on a replica that is up, the other one if the call cannot connect. */
async function onSomeApi<T>(i: number, fn: (api: ApiProcess) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const k = [i % 2, (i + 1) % 2].find((n) => apiUp[n]) ?? i % 2;
    try {
      return await fn(apis[(k + attempt) % 2]!);
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(250);
    }
  }
}

const FAULTS = ['redis kill', 'worker SIGKILL', 'api restart'] as const;
type Fault = (typeof FAULTS)[number];

async function inject(fault: Fault, n: number): Promise<void> {
  if (fault === 'worker SIGKILL') {
    const k = n % 2;
    await workers[k]!.proc.kill('SIGKILL');
    workers[k] = await startWorkerProcess(env, workerExtra);
  } else if (fault === 'api restart') {
    const k = n % 2;
    apiUp[k] = false;
    apis[k] = await restartApiProcess(env, apis[k]!, apiExtra);
    apiUp[k] = true;
  } else {
    await redis.kill();
    await sleep(REDIS_DOWN_MS);
    await redis.restart();
  }
}

beforeAll(async () => {
  [redis, db, receiver] = await Promise.all([
    startRedis({ persistence: true }),
    postgres('chaos'),
    callbackReceiver(),
  ]);
  env = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('ch'),
  };
  apiExtra = { CALLBACK_ALLOWED_HOSTS: receiver.host, REPAIR_INTERVAL_MS: '2000' };
  // Locks outlive a Redis outage (renewed every half): a live worker's shard is not taken
  // over meanwhile. A SIGKILLed worker's shards are taken over once their lock lapses.
  workerExtra = { ...apiExtra, WORKER_CONCURRENCY: '4', WORKER_STALLED_MS: '10000' };
  const fleet = await startFleet(env, apiExtra, workerExtra);
  apis.push(...fleet.apis);
  workers.push(...fleet.workers);
}, 180_000);

afterAll(async () => {
  await Promise.all([...apis, ...workers].map((p) => stopProcess(p.proc)));
  await redis?.close();
  await db?.close();
  await receiver?.close();
}, 60_000);

describe('chaos: runs and EventSource watchers while workers, replicas and Redis fail in turn', () => {
  it(
    'every run terminal with exact counts and one callback (resent with its key only after a worker kill), no create refused, every watcher gets contiguous ids, each result at most once and an exact done (results never seen are counted)',
    async () => {
      const startedAt = performance.now();
      const created: Created[] = [];
      const statuses: number[] = [];
      const faults: { fault: Fault; ms: number; atMs: number }[] = [];
      const names = demoTests(TESTS, TEST_MS).map((t) => t.name);

      const creating = (async () => {
        for (let i = 0; performance.now() - startedAt < DURATION_MS; i++) {
          const body = {
            executor: 'demo',
            tests: demoTests(TESTS, TEST_MS),
            shards: SHARDS,
            callbackUrl: receiver.url,
          };
          const r = await onSomeApi(i, (api) =>
            apiClient(api.url, FLEET_TOKEN).post<{ run: RunBody }>('/runs', body),
          );
          statuses.push(r.status);
          if (r.status === 201) {
            const run = r.body.run;
            const { token } = (
              await onSomeApi(i, (api) =>
                apiClient(api.url, FLEET_TOKEN).post<{ token: string }>(
                  `/runs/${run.id}/stream-token`,
                ),
              )
            ).body;
            // Each watcher stays on one replica's address, as a page does; from the start.
            const url = `${apis[i % 2]!.url}/api/v1/runs/${run.id}/events?st=${token}&lastEventId=0`;
            created.push({
              run,
              watcher: watchRun(url),
              atMs: Math.round(performance.now() - startedAt),
            });
          }
          await sleep(CREATE_EVERY_MS);
        }
      })();

      // Every api and worker process ever started, for the log lines of a watcher's run.
      const processes = (): { name: string; lines: string[] }[] => [
        ...apis.map((a, i) => ({ name: `api${i}`, lines: a.proc.lines })),
        ...workers.map((w, i) => ({ name: `worker${i}`, lines: w.proc.lines })),
      ];
      const retired: { name: string; lines: string[] }[] = [];
      const injecting = (async () => {
        for (let n = 0; ; n++) {
          await sleep(FAULT_EVERY_MS);
          if (performance.now() - startedAt >= DURATION_MS - FAULT_EVERY_MS / 2) return;
          const fault = FAULTS[n % FAULTS.length]!;
          const at = performance.now();
          // The process about to be replaced keeps its lines for the diagnosis below.
          const k = Math.floor(n / FAULTS.length) % 2;
          if (fault === 'worker SIGKILL')
            retired.push({
              name: `worker${k}@${Math.round(at - startedAt)}`,
              lines: workers[k]!.proc.lines,
            });
          if (fault === 'api restart')
            retired.push({
              name: `api${k}@${Math.round(at - startedAt)}`,
              lines: apis[k]!.proc.lines,
            });
          await inject(fault, Math.floor(n / FAULTS.length));
          faults.push({
            fault,
            ms: Math.round(performance.now() - at),
            atMs: Math.round(at - startedAt),
          });
        }
      })();
      await Promise.all([creating, injecting]);

      // Every run ends, from PostgreSQL's view.
      const final = new Map<string, RunBody>();
      await waitFor(
        async () => {
          for (const { run } of created) {
            if (final.has(run.id)) continue;
            const got = await onSomeApi(0, (api) =>
              apiClient(api.url, FLEET_TOKEN).get<{ run: RunBody }>(`/runs/${run.id}`),
            );
            if (['completed', 'failed', 'aborted'].includes(got.body.run.status))
              final.set(run.id, got.body.run);
          }
          return final.size === created.length;
        },
        { timeoutMs: 120_000, intervalMs: 500, what: 'every run terminal' },
      );
      await Promise.race([Promise.all(created.map((c) => c.watcher.ended)), sleep(60_000)]);
      await waitFor(() => created.every((c) => receiver.bodiesOf(c.run.id).length >= 1), {
        timeoutMs: 60_000,
        what: 'a callback for every run',
      });
      // Time for a duplicate to show up, if there were one.
      await sleep(2_000);

      const verdicts = created.map(({ run, watcher }) => ({
        runId: run.id,
        fatal: watcher.fatal,
        errors: watcher.errors,
        ...verdictOf(watcher.frames, final.get(run.id)!, names),
      }));
      const exact = (v: (typeof verdicts)[number]) =>
        !v.fatal &&
        !v.gapped &&
        v.problems.length === 0 &&
        v.duplicates.length === 0 &&
        v.missing.length === 0;
      // Every watcher that is not exact, with its frames, its connection log and the log lines
      // of its run from every process: enough to tell what happened from a CI log alone.
      for (const [i, v] of verdicts.entries()) {
        if (exact(v)) continue;
        const { watcher } = created[i]!;
        const frames = watcher.frames.map((f) => {
          const d = f.data;
          const what = [
            d.type,
            f.eventId,
            d.recovered === undefined ? '' : `recovered=${d.recovered}`,
            d.shardIndex === undefined ? '' : `shard=${d.shardIndex}`,
            typeof d.state === 'string' ? d.state : '',
            typeof d.name === 'string' ? d.name : '',
            typeof d.status === 'string' ? d.status : '',
          ].filter(Boolean);
          return `${f.at} ${what.join(' ')}`;
        });
        const lines = [...retired, ...processes()].flatMap(({ name, lines }) =>
          lines.filter((l) => l.includes(v.runId)).map((l) => `${name} ${l.slice(0, 500)}`),
        );
        console.log(
          JSON.stringify({
            chaosWatcher: {
              ...v,
              // Frame and log times are ms since the watcher started, which was this many ms
              // into the test; the faults' times are in `faultsAt`.
              watcherStartedMs: created[i]!.atMs,
              watcherLog: watcher.log,
              frames,
              processLines: lines.slice(-80),
            },
            faultsAt: faults.map((f) => `${f.atMs} ${f.fault}`),
          }),
        );
      }
      for (const c of created) c.watcher.close();
      const summary = {
        durationMs: Math.round(performance.now() - startedAt),
        runs: created.length,
        creates: statuses.length,
        faults: faults.length,
        faultKinds: Object.fromEntries(
          FAULTS.map((f) => [f, faults.filter((x) => x.fault === f).length]),
        ),
        faultMs: faults.map((f) => f.ms),
        watchers: verdicts.length,
        watchersExact: verdicts.filter(exact).length,
        watchersMissingResults: verdicts.filter((v) => v.missing.length > 0).length,
        missingResults: verdicts.reduce((a, v) => a + v.missing.length, 0),
        watchersWithDuplicates: verdicts.filter((v) => v.duplicates.length > 0).length,
        duplicateResults: verdicts.reduce((a, v) => a + v.duplicates.length, 0),
        watchersGapped: verdicts.filter((v) => v.gapped).length,
        reconnects: verdicts.reduce((a, v) => a + v.connections - 1, 0),
        callbacks: created.reduce((a, c) => a + receiver.bodiesOf(c.run.id).length, 0),
      };
      console.log(JSON.stringify({ chaos: summary }));

      expect(faults.length).toBeGreaterThanOrEqual(FAULTS.length);
      expect(statuses.filter((s) => s !== 201)).toEqual([]);
      // Callbacks are at-least-once across a crash (shard-worker README, "Callbacks"): a worker
      // SIGKILLed between a POST landing and its `sent` mark has it sent again, with the same
      // Idempotency-Key. So one per run, or two after a worker kill, for at most the runs the
      // killed workers had in flight.
      const kills = faults.filter((f) => f.fault === 'worker SIGKILL').length;
      const resent = created.filter((c) => receiver.keysOf(c.run.id).length > 1);
      expect(resent.length).toBeLessThanOrEqual(kills * Number(workerExtra.WORKER_CONCURRENCY));
      for (const { run } of created) {
        expect(final.get(run.id), run.id).toMatchObject({
          status: 'completed',
          total: TESTS,
          passed: TESTS,
          failed: 0,
        });
        const keys = receiver.keysOf(run.id);
        expect(keys.length, run.id).toBeGreaterThanOrEqual(1);
        expect(keys.length, run.id).toBeLessThanOrEqual(kills > 0 ? 2 : 1);
        expect(new Set(keys), run.id).toEqual(new Set([run.id]));
      }
      // Ids never repeat or skip, no result comes twice (appends are idempotent), none is
      // missing unless a gap was declared, and every watcher gets one done with the run's
      // counts. The lines above show each watcher that is not exact.
      const wrong = verdicts.filter(
        (v) => v.fatal || v.problems.length > 0 || v.duplicates.length > 0 || v.missing.length > 0,
      );
      expect(wrong, JSON.stringify(wrong.slice(0, 5))).toEqual([]);
    },
    DURATION_MS + 420_000,
  );
});
