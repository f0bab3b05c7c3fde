import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import {
  type ApiProcess,
  FLEET_TOKEN,
  type FleetEnv,
  startApiProcess,
  startWorkerProcess,
  statOf,
  type WorkerProcess,
} from './support/fleet.js';
import { openSse, type SseFrame } from './support/sse-client.js';

// Events are delayed, never dropped in silence (issue 15, sections 1, 2 and 4), with real
// processes: two api replicas, two workers, a private Redis with an append-only file that is
// killed and restarted with its data, or restarted empty.

let redis: TestRedis;
let db: TestDatabase;
let env: FleetEnv;
const apis: ApiProcess[] = [];
const workers: WorkerProcess[] = [];
const bearer = { authorization: `Bearer ${FLEET_TOKEN}` };

const client = () => apiClient(apis[0]!.url, FLEET_TOKEN);

async function createRun(tests: number, durationMs: number, shards: number): Promise<RunBody> {
  const r = await client().post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(tests, durationMs),
    shards,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.run;
}

async function waitTerminal(runId: string): Promise<RunBody> {
  return waitFor(
    async () => {
      const run = (await client().get<{ run: RunBody }>(`/runs/${runId}`)).body.run;
      return ['completed', 'failed', 'aborted'].includes(run.status) ? run : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `run ${runId} to finish` },
  );
}

/** One stream a follower opened, its frames as they arrive (the snapshot first). */
interface Connection {
  url: string;
  frames: SseFrame[];
}
const recoveredOf = (c: Connection) => c.frames[0]?.data.recovered as boolean | undefined;
const eventsOf = (c: Connection) => c.frames.filter((f) => f.data.type !== 'snapshot');

/**
 * Follows a run the way EventSource does: on every end it reconnects (to the replicas in
 * turn) with the last id it got, verbatim, as Last-Event-ID; stops at `done`.
 */
function follow(urls: string[], runId: string) {
  const connections: Connection[] = [];
  // From the run's start, as @x/client does: every event of the run, once.
  let last = '0';
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped && i < 400; i++) {
      const url = urls[i % urls.length]!;
      let frames: SseFrame[] = [];
      try {
        const stream = await openSse(`${url}/api/v1/runs/${runId}/events`, {
          ...bearer,
          'last-event-id': last,
        });
        frames = stream.frames;
        connections.push({ url, frames });
        await stream.ended.catch(() => {});
      } catch {
        // A replica that is not answering: try the next, as a browser would after `retry`.
      }
      for (const f of frames) if (f.eventId) last = f.eventId;
      if (frames.some((f) => f.data.type === 'done')) return;
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    connections,
    done,
    stop: () => {
      stopped = true;
    },
  };
}

const parseId = (id: string) => {
  const [seq, epoch] = id.split('-');
  return { seq: Number(seq), epoch };
};

/**
 * Never a contiguous-looking stream with holes: each event follows the one before it (same
 * epoch, seq + 1), unless it is the first of a connection whose snapshot said recovered:false.
 */
function expectHonest(connections: Connection[]) {
  let prev: { seq: number; epoch: string | undefined } | undefined;
  let breaks = 0;
  for (const conn of connections) {
    eventsOf(conn).forEach((frame, i) => {
      if (!frame.eventId) return;
      const cur = parseId(frame.eventId);
      const follows = prev && cur.epoch === prev.epoch && cur.seq === prev.seq + 1;
      if (prev && !follows) {
        breaks++;
        expect(i === 0 && recoveredOf(conn) === false, `hole before ${frame.eventId}`).toBe(true);
      }
      prev = cur;
    });
  }
  return breaks;
}

const resultNames = (connections: Connection[]) =>
  connections.flatMap((c) =>
    eventsOf(c)
      .filter((f) => f.data.type === 'result')
      .map((f) => String(f.data.name)),
  );

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis({ persistence: true }), postgres('evout')]);
  env = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('eo'),
  };
  // Stall detection well above the outage: this file tests events, not the queue's takeover
  // of a shard whose lock lapsed meanwhile (a second execution would emit its results again).
  const extra = { REPAIR_INTERVAL_MS: '2000' };
  const started = await Promise.all([
    startApiProcess(env, extra),
    startApiProcess(env, extra),
    startWorkerProcess(env, { ...extra, WORKER_CONCURRENCY: '4', WORKER_STALLED_MS: '15000' }),
    startWorkerProcess(env, { ...extra, WORKER_CONCURRENCY: '4', WORKER_STALLED_MS: '15000' }),
  ]);
  apis.push(started[0] as ApiProcess, started[1] as ApiProcess);
  workers.push(started[2] as WorkerProcess, started[3] as WorkerProcess);
}, 180_000);

afterAll(async () => {
  const stop = async (p: { kill(s?: NodeJS.Signals): Promise<unknown> }) => {
    const timer = setTimeout(() => void p.kill('SIGKILL'), 15_000);
    await p.kill('SIGTERM');
    clearTimeout(timer);
  };
  await Promise.all([...apis.map((a) => stop(a.proc)), ...workers.map((w) => stop(w.proc))]);
  await redis?.close();
  await db?.close();
}, 60_000);

describe('run events across Redis outages (2 api, 2 workers, real processes)', () => {
  it('Redis killed for 2 s mid-run and restarted with its data: a resuming client gets every result exactly once', async () => {
    const run = await createRun(60, 200, 4);
    const follower = follow(
      apis.map((a) => a.url),
      run.id,
    );
    await waitFor(() => resultNames(follower.connections).length >= 8, {
      timeoutMs: 30_000,
      what: 'some results before the outage',
    });
    await redis.kill();
    await new Promise((r) => setTimeout(r, 2_000));
    await redis.restart();
    await follower.done;
    const final = await waitTerminal(run.id);
    expect(final).toMatchObject({ status: 'completed', total: 60, passed: 60, failed: 0 });
    const names = resultNames(follower.connections);
    const counts = new Map<string, number>();
    for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
    // Every result exactly once, although the workers' buffered results and the finalizer's
    // `done` come from different processes: a shard's completion is recorded only once its
    // events are in the log, so the `done` that follows the last completion comes after them.
    const seen = JSON.stringify(
      follower.connections.map((c) => [recoveredOf(c), eventsOf(c).length]),
    );
    expect(counts.size, seen).toBe(60);
    expect([...counts.keys()].sort()).toEqual(
      demoTests(60, 200)
        .map((t) => t.name)
        .sort(),
    );
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const dones = follower.connections.flatMap((c) =>
      eventsOf(c).filter((f) => f.data.type === 'done'),
    );
    expect(dones).toHaveLength(1);
    expectHonest(follower.connections);
    // The events emitted during the outage waited in the workers and went out afterwards.
    const buffered = await Promise.all(
      workers.map((w) => statOf(w.metricsUrl, 'run_events', 'eventsBufferedTotal')),
    );
    const flushed = await Promise.all(
      workers.map((w) => statOf(w.metricsUrl, 'run_events', 'eventsFlushed')),
    );
    expect(buffered.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(flushed).toEqual(buffered);
  });

  it('Redis restarted empty mid-run: resumes answer recovered:false (also on a replica that never saw the run), never a contiguous stream with holes', async () => {
    const run = await createRun(40, 500, 4);
    // The follower uses the first replica only: the second never streams this run.
    const follower = follow([apis[0]!.url], run.id);
    await waitFor(() => resultNames(follower.connections).length >= 8, {
      timeoutMs: 30_000,
      what: 'some results before the restart',
    });
    // The id this client holds before the restart.
    const held = follower.connections
      .flatMap((c) => eventsOf(c))
      .filter((f) => f.eventId)
      .at(-1)!.eventId!;
    await redis.restart({ empty: true });
    // Once a worker wrote again, the history has a new epoch.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const lastEventId of [held, String(parseId(held).seq), '0']) {
      const resumed = await openSse(`${apis[1]!.url}/api/v1/runs/${run.id}/events`, {
        ...bearer,
        'last-event-id': lastEventId,
      });
      await resumed.waitFor((f) => f.data.type === 'snapshot');
      expect(resumed.frames[0]!.data, `resume from ${lastEventId}`).toMatchObject({
        type: 'snapshot',
        recovered: false,
      });
      // Whatever follows belongs to the new history, numbered above every id held before.
      const next = await resumed.waitFor((f) => f.eventId !== null, 5_000).catch(() => undefined);
      if (next) {
        expect(parseId(next.eventId!).epoch).not.toBe(parseId(held).epoch);
        expect(parseId(next.eventId!).seq).toBeGreaterThan(parseId(held).seq);
      }
      resumed.close();
    }
    await follower.done;
    const final = await waitTerminal(run.id);
    expect(final).toMatchObject({ status: 'completed', total: 40, passed: 40 });
    // Its stream ended when the history was lost; its resume was told so.
    const summary = follower.connections.map(
      (c) =>
        `${recoveredOf(c)}:${eventsOf(c).length}:${eventsOf(c)[0]?.eventId}..${eventsOf(c).at(-1)?.eventId}`,
    );
    summary.push(`held ${held}`);
    expect(
      follower.connections.some((c) => recoveredOf(c) === false),
      summary.join(' '),
    ).toBe(true);
    expectHonest(follower.connections);
  });
});
