import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type NodeProcess, spawnNode, startRedis, type TestRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followRun, openSse } from './sse-client.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url));
const ws = { 'x-workspace': 'ws1' };
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

let redis: TestRedis;
let admin: Redis;
const prefix = uniqueName('xp');
const procs: NodeProcess[] = [];
let relays: string[] = [];
let emitters: NodeProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  admin.on('error', () => {}); // the restart test kills its server on purpose
  const env = { REDIS_URL: redis.url, X_PREFIX: prefix };
  // Four tsx processes starting at once on two busy cores can take a while.
  const slow = { readyTimeoutMs: 50_000 };
  const started = await Promise.all([
    spawnNode(fixture('relay'), env, slow),
    spawnNode(fixture('relay'), env, slow),
    spawnNode(fixture('emitter'), { ...env, LABEL: 'a' }, slow),
    spawnNode(fixture('emitter'), { ...env, LABEL: 'b' }, slow),
  ]);
  procs.push(...started);
  relays = await Promise.all(
    started
      .slice(0, 2)
      .map(async (p) => `http://127.0.0.1:${(await p.waitForLine(/^READY/)).split(' ')[1]}`),
  );
  emitters = started.slice(2);
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  admin.disconnect();
  await redis.close();
});

async function newRun() {
  const runId = randomUUID();
  await admin.hset(`${prefix}:testrun:${runId}`, { workspaceId: 'ws1', status: 'running' });
  // Handed to the queue: its first epoch, ids from 1.
  const begun = emitters[0]!.waitForLine(new RegExp(`^BEGUN ${runId}`));
  emitters[0]!.send(`begin ${runId}`);
  await begun;
  return runId;
}
async function runEmitter(emitter: NodeProcess, runId: string, count: number, intervalMs = 0) {
  const finished = emitter.waitForLine(new RegExp(`^FINISHED ${runId}`), 60_000);
  emitter.send(`go ${runId} ${count} ${intervalMs}`);
  return finished;
}
async function finish(runId: string) {
  const done = emitters[0]!.waitForLine(new RegExp(`^DONE ${runId}`));
  emitters[0]!.send(`done ${runId}`);
  await done;
}

describe('relay processes and emitter processes on one Redis', () => {
  it('a client on each relay gets every event of another process in order, no gaps, no duplicates', async () => {
    const runId = await newRun();
    const clients = relays.map((url) => followRun(url, runId, ws));
    await new Promise((r) => setTimeout(r, 300)); // both subscribed
    await runEmitter(emitters[0]!, runId, 300);
    await finish(runId);
    await Promise.all(clients.map((c) => c.done));
    for (const client of clients) {
      expect(client.ids).toEqual(range(301));
      expect(client.messages.slice(0, 300)).toEqual(range(300).map((i) => `a-${i - 1}`));
    }
  });

  it('two emitters interleaving on one run produce one global order for every client', async () => {
    const runId = await newRun();
    const clients = relays.flatMap((url) => [followRun(url, runId, ws), followRun(url, runId, ws)]);
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([runEmitter(emitters[0]!, runId, 200), runEmitter(emitters[1]!, runId, 200)]);
    await finish(runId);
    await Promise.all(clients.map((c) => c.done));
    const order = clients[0]!.messages;
    expect(clients[0]!.ids).toEqual(range(401));
    expect(order.filter((m) => m.startsWith('a-'))).toEqual(range(200).map((i) => `a-${i - 1}`));
    expect(new Set(order.map((m) => m[0])).size).toBe(3); // a, b and done interleaved in one order
    for (const client of clients) {
      expect(client.ids).toEqual(range(401));
      expect(client.messages).toEqual(order);
    }
  });

  it('a client that disconnects mid-run resumes with Last-Event-ID and gets exactly what it missed', async () => {
    const runId = await newRun();
    const client = followRun(relays[0]!, runId, ws);
    await new Promise((r) => setTimeout(r, 200));
    const emitting = runEmitter(emitters[0]!, runId, 300, 2);
    await new Promise((r) => setTimeout(r, 250));
    client.stop(); // drop mid-run
    const seen = client.ids.length;
    expect(seen).toBeGreaterThan(0);
    await emitting;
    // Reconnect to the other relay, where it left off.
    const again = await openSse(`${relays[1]}/runs/${runId}/events`, {
      headers: { ...ws, 'last-event-id': String(client.ids.at(-1)) }, // bare: the current epoch
    });
    await finish(runId);
    await again.ended;
    expect(again.events[0]).toMatchObject({ type: 'snapshot', recovered: true });
    const ids = [...client.ids, ...again.events.slice(1).map((e) => e.id)];
    expect(ids).toEqual(range(301));
  });

  it('keeps connected clients receiving across an empty Redis restart: a new epoch, announced by recovered:false', async () => {
    const runId = await newRun();
    const clients = relays.map((url) => followRun(url, runId, ws));
    await new Promise((r) => setTimeout(r, 300));
    const emitting = runEmitter(emitters[0]!, runId, 400, 5);
    await new Promise((r) => setTimeout(r, 600));
    const before = clients.map((c) => c.ids.length);
    await redis.restart(); // empty: the history and its epoch are gone
    await admin.hset(`${prefix}:testrun:${runId}`, { workspaceId: 'ws1', status: 'running' });
    await emitting;
    await finish(runId);
    await Promise.all(clients.map((c) => c.done));
    for (const [i, client] of clients.entries()) {
      // Strictly increasing: nothing twice, one order; the new epoch starts above the old one.
      expect(client.ids.every((id, k) => k === 0 || id > client.ids[k - 1]!)).toBe(true);
      expect(client.messages.at(-1)).toBe('done');
      expect(client.ids.length).toBeGreaterThan(before[i]! + 100); // kept receiving after the restart
      // Every hole is announced: the history was rebuilt (a new epoch), so the client was sent
      // a recovered:false snapshot before the new epoch's events, never a silent hole.
      const holes = client.ids.filter((id, k) => k > 0 && id !== client.ids[k - 1]! + 1).length;
      const notRecovered = client.snapshots.filter((s) => s.recovered === false).length;
      expect(notRecovered).toBeGreaterThanOrEqual(1);
      expect(holes).toBeLessThanOrEqual(notRecovered);
    }
  });
});
