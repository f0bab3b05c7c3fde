// Cross-process latency and fan-out: an event emitted in one process reaches SSE clients
// of a relay in another process, against Socket.IO + @socket.io/redis-adapter (emit on
// server A, clients on server B) in the same run. Then memory per idle SSE connection
// (bench/idle-memory.ts).
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type NodeProcess, openSseFrames, spawnNode, startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { io as connectIo, type Socket } from 'socket.io-client';
import { buildForBench, type MedianIdleMemory, medianIdleMemory } from './idle-memory.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
// Every spawnNode() registers a process 'exit' hook that kills its child; this run spawns 13.
process.setMaxListeners(32);
const IDLE_CONNECTIONS = Number(process.env.BENCH_IDLE ?? 5_000);
const ROUNDS = 3;
const LOADS = [
  { name: '1 client x 1000 ev/s', clients: 1, events: 2_000, intervalMs: 1 },
  { name: '100 clients x 500 ev/s', clients: 100, events: 1_000, intervalMs: 2 },
];

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const round = (n: number) => Math.round(n * 1000) / 1000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const portOf = async (p: NodeProcess) => Number((await p.waitForLine(/^READY/)).split(' ')[1]);

interface Result {
  p50: number;
  p99: number;
  lost: number;
}
/** Latencies of one round, and how many deliveries it expected. */
interface Round {
  latencies: number[];
  expected: number;
}
function summarize(rounds: Round[]): Result {
  const latencies = rounds.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const expected = rounds.reduce((n, r) => n + r.expected, 0);
  return {
    p50: round(pct(latencies, 50)),
    p99: round(pct(latencies, 99)),
    lost: expected - latencies.length,
  };
}

const redis = await startRedis();
const admin = new Redis(redis.url);
const prefix = uniqueName('bench');
const env = { REDIS_URL: redis.url, X_PREFIX: prefix, BENCH: '1' };
const slow = { readyTimeoutMs: 60_000 };
const [relay, emitter, ioRelay, ioEmitter] = await Promise.all([
  spawnNode(here('../test/fixtures/relay.ts'), env, slow),
  spawnNode(here('../test/fixtures/emitter.ts'), env, slow),
  spawnNode(here('./socketio-server.ts'), env, slow),
  spawnNode(here('./socketio-server.ts'), env, slow),
]);
const relayUrl = `http://127.0.0.1:${await portOf(relay!)}`;
const ioUrl = `http://127.0.0.1:${await portOf(ioRelay!)}`;

/**
 * `raw`: the same emitter, validation, envelope, relay and clients, but the emitter PUBLISHes
 * the message the append script would publish instead of running the script (no history):
 * what the single client's latency is without the history step, the reference that isolates it.
 */
async function ours(load: (typeof LOADS)[number], raw = false): Promise<Round> {
  const runId = randomUUID();
  await admin.hset(`${prefix}:testrun:${runId}`, { workspaceId: 'ws', status: 'running' });
  // The run's first epoch exists before any stream opens, as the enqueuer begins every run
  // before its first job: a stream that sees the epoch created under it ends (the client
  // would reconnect; these clients do not), and every event was lost.
  const begun = emitter!.waitForLine(new RegExp(`^BEGUN ${runId}`), 30_000);
  emitter!.send(`begin ${runId}`);
  await begun;
  const latencies: number[] = [];
  const streams: { close(): void }[] = [];
  for (let i = 0; i < load.clients; i++) {
    streams.push(
      // The application's JSON.parse of each message is part of what is measured (Socket.IO's
      // side parses each packet in socket.io-client, its production client).
      await openSseFrames(`${relayUrl}/runs/${runId}/events`, { 'x-workspace': 'ws' }, (data) => {
        const e = JSON.parse(data);
        if (e.type === 'log') latencies.push(now() - Number(e.message));
      }),
    );
  }
  await sleep(300);
  const finished = emitter!.waitForLine(new RegExp(`^FINISHED ${runId}`), 120_000);
  emitter!.send(`${raw ? 'go-raw' : 'go'} ${runId} ${load.events} ${load.intervalMs}`);
  await finished;
  const expected = load.events * load.clients;
  for (let i = 0; i < 100 && latencies.length < expected; i++) await sleep(50);
  for (const s of streams) s.close();
  return { latencies, expected };
}

/** `history`: Socket.IO behind the same append script (socketio-server.ts), awaited per event. */
async function socketio(load: (typeof LOADS)[number], history = false): Promise<Round> {
  const latencies: number[] = [];
  const sockets: Socket[] = [];
  for (let i = 0; i < load.clients; i++) {
    const socket = connectIo(ioUrl, { transports: ['websocket'], forceNew: true });
    socket.on('log', (e: { message: string }) => latencies.push(now() - Number(e.message)));
    await new Promise((resolve) => socket.once('connect', () => resolve(undefined)));
    sockets.push(socket);
  }
  await sleep(300);
  const before = ioEmitter!.lines.length;
  ioEmitter!.send(`go ${load.events} ${load.intervalMs}${history ? ' history' : ''}`);
  while (!ioEmitter!.lines.slice(before).includes('FINISHED')) await sleep(20);
  const expected = load.events * load.clients;
  for (let i = 0; i < 100 && latencies.length < expected; i++) await sleep(50);
  for (const s of sockets) s.close();
  return { latencies, expected };
}

/** Redis's own time per call of `cmd` since the last RESETSTAT (commandstats), µs. */
const usecPerCall = async (cmd: string) =>
  Number(
    new RegExp(`cmdstat_${cmd}:calls=\\d+,usec=\\d+,usec_per_call=([\\d.]+)`).exec(
      String(await admin.info('commandstats')),
    )?.[1],
  );

const results: Record<
  string,
  { ours: Result; socketio: Result; raw?: Result; ioHistory?: Result }
> = {};
let redisUsec = { evalsha: Number.NaN, publish: Number.NaN };
for (const load of LOADS) {
  // The single client also runs the raw reference (see `ours`), to show what the history
  // step costs in this run; the fan-out is not in question.
  const withRaw = load.clients === 1;
  // Warm up each path once, then alternate rounds so all see the same machine noise; each
  // side's percentiles are over all its rounds' deliveries.
  await ours({ ...load, events: 200 });
  if (withRaw) await ours({ ...load, events: 200 }, true);
  await socketio({ ...load, events: 200 });
  if (withRaw) await socketio({ ...load, events: 200 }, true);
  const mineRounds: Round[] = [];
  const rawRounds: Round[] = [];
  const theirRounds: Round[] = [];
  const ioHistoryRounds: Round[] = [];
  if (withRaw) await admin.config('RESETSTAT');
  for (let r = 0; r < ROUNDS; r++) {
    mineRounds.push(await ours(load));
    if (withRaw) rawRounds.push(await ours(load, true));
    theirRounds.push(await socketio(load));
    if (withRaw) ioHistoryRounds.push(await socketio(load, true));
  }
  // EVALSHA: the append script (ours, and Socket.IO's history rounds, which do not publish
  // from it); PUBLISH: Socket.IO's and the raw reference's.
  if (withRaw)
    redisUsec = { evalsha: await usecPerCall('evalsha'), publish: await usecPerCall('publish') };
  const mine = summarize(mineRounds);
  const theirs = summarize(theirRounds);
  const raw = withRaw ? summarize(rawRounds) : undefined;
  const ioHistory = withRaw ? summarize(ioHistoryRounds) : undefined;
  results[load.name] = { ours: mine, socketio: theirs, raw, ioHistory };
  console.log(
    `${load.name.padEnd(24)} sse-relay p50 ${mine.p50} ms p99 ${mine.p99} ms lost ${mine.lost} | ` +
      `socket.io p50 ${theirs.p50} ms p99 ${theirs.p99} ms lost ${theirs.lost}` +
      (raw
        ? ` | sse-relay without the history step (bare PUBLISH) p50 ${raw.p50} ms p99 ${raw.p99} ms lost ${raw.lost}`
        : '') +
      (ioHistory
        ? ` | socket.io behind the same history append p50 ${ioHistory.p50} ms p99 ${ioHistory.p99} ms lost ${ioHistory.lost}`
        : ''),
  );
}
console.log(
  `Redis time per call during the single-client rounds: EVALSHA (append script) ${redisUsec.evalsha} µs, PUBLISH ${redisUsec.publish} µs`,
);

await Promise.all([relay, emitter, ioRelay, ioEmitter].map((p) => p!.kill()));
admin.disconnect();

// Memory per idle connection, in fresh processes running the built package (idle-memory.ts):
// node:http alone and a plain Express route as the floor, then the relay; medians of 3 each.
const build = buildForBench();
const idle: Record<string, MedianIdleMemory> = {};
for (const mode of ['bare', 'express', 'relay'] as const) {
  idle[mode] = await medianIdleMemory({
    mode,
    redisUrl: redis.url,
    count: IDLE_CONNECTIONS,
    build,
    rounds: 3,
  });
  const r = idle[mode]!;
  console.log(
    `idle ${mode.padEnd(7)} ${IDLE_CONNECTIONS} conns: RSS +${r.rssPerConn} B/conn, heap +${r.heapPerConn} B/conn ` +
      `(RSS per round ${r.rounds.map((x) => x.rssPerConn).join(' / ')})`,
  );
}
await redis.close();

const single = results[LOADS[0]!.name]!;
const fan = results[LOADS[1]!.name]!;
console.log(
  JSON.stringify({
    bench: 'sse-relay',
    p50_ms: single.ours.p50,
    p99_ms: single.ours.p99,
    socketio_p50_ms: single.socketio.p50,
    socketio_p99_ms: single.socketio.p99,
    raw_publish_p50_ms: single.raw?.p50,
    raw_publish_p99_ms: single.raw?.p99,
    socketio_history_p50_ms: single.ioHistory?.p50,
    socketio_history_p99_ms: single.ioHistory?.p99,
    redis_evalsha_usec: redisUsec.evalsha,
    redis_publish_usec: redisUsec.publish,
    fanout_p50_ms: fan.ours.p50,
    fanout_p99_ms: fan.ours.p99,
    socketio_fanout_p50_ms: fan.socketio.p50,
    socketio_fanout_p99_ms: fan.socketio.p99,
    lost: single.ours.lost + fan.ours.lost,
    reference_lost: (single.raw?.lost ?? 0) + (single.ioHistory?.lost ?? 0),
    bytes_per_idle_conn: idle.relay!.rssPerConn,
  }),
);
process.exit(0);
