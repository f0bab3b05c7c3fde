/**
 * `pnpm --filter @x/sse-relay bench:append-floor`: what Redis itself adds to one emit, as a
 * subscriber on another connection sees it. One private Redis, one process, interleaved at
 * 1 ms (the single-client load of bench/index.ts): a bare `PUBLISH` of the very message the
 * append script publishes (same bytes: what Socket.IO's adapter sends), the append script
 * called directly (`appendMany`: `EVALSHA` running `GET`, `XADD`, `SET`, `PEXPIRE`,
 * `PUBLISH`), and a full `RunEvents.emit` (validation, JSON, the coalescer's hop, the append).
 * Each figure is the time from the call to the message arriving on the subscriber connection,
 * and Redis's own time per call (`INFO commandstats`).
 * Last line: {"bench":"append-floor","publish_p50_ms":…,"evalsha_p50_ms":…,"emit_p50_ms":…,…}.
 */
import { randomUUID } from 'node:crypto';
import { createBus, redisTransport } from '@x/pubsub-core';
import { startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { createRunEvents, redisEventLog, runEventsChannel } from '../src/index.js';

const EVENTS = Number(process.env.X_BENCH_EVENTS ?? 3000);
const WARMUP = 300;
const INTERVAL_MS = 1;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const round = (n: number) => Math.round(n * 1000) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redis = await startRedis();
const client = new Redis(redis.url);
const sub = new Redis(redis.url);
const prefix = uniqueName('floor');
const bus = createBus({ transport: redisTransport({ url: redis.url }), prefix });
await bus.ready();
const log = redisEventLog({ redis: client, prefix });
const events = createRunEvents({ bus, log });
const runId = randomUUID();
const emitRunId = randomUUID();
await events.begin(runId);
await events.begin(emitRunId);
const channel = bus.channel(runEventsChannel, { runId });
const emitChannel = bus.channel(runEventsChannel, { runId: emitRunId });
const rawChannel = `${prefix}:raw`;

// One pending send per kind at a time: the arrival closes the one open timer.
const kinds = ['publish', 'evalsha', 'emit'] as const;
type Kind = (typeof kinds)[number];
const started: Record<Kind, number> = { publish: 0, evalsha: 0, emit: 0 };
const samples: Record<Kind, number[]> = { publish: [], evalsha: [], emit: [] };
const channelKind = new Map<string, Kind>([
  [rawChannel, 'publish'],
  [channel.name, 'evalsha'],
  [emitChannel.name, 'emit'],
]);
let lastScriptMessage = '';
let recording = false;
sub.on('message', (ch: string, message: string) => {
  const kind = channelKind.get(ch);
  if (!kind) return;
  if (kind === 'evalsha') lastScriptMessage = message;
  if (recording) samples[kind].push(performance.now() - started[kind]);
});
await sub.subscribe(rawChannel, channel.name, emitChannel.name);

const json = (message: string) => JSON.stringify({ type: 'log', runId, level: 'info', message });
let n = 0;
const append = () => {
  const message = String(performance.timeOrigin + performance.now());
  return log.appendMany(runId, [{ type: 'log', json: json(message) }], {
    floor: 0,
    historyLimit: 10_000,
    ttlMs: 24 * 60 * 60_000,
    doneTtlMs: 10 * 60_000,
    publish: channel.scriptEnvelope(),
    token: { origin: 'floorbench', n: ++n },
  });
};

async function once(kind: Kind): Promise<void> {
  started[kind] = performance.now();
  if (kind === 'publish') await client.publish(rawChannel, lastScriptMessage);
  else if (kind === 'evalsha') await append();
  else
    await events.emit(emitRunId, 'log', {
      level: 'info',
      message: String(performance.timeOrigin + performance.now()),
    });
}

async function pass(count: number): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    // Rotate which kind goes first, so none always follows a sleep.
    for (let k = 0; k < kinds.length; k++) {
      const due = start + (i * kinds.length + k) * INTERVAL_MS;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      await once(kinds[(i + k) % kinds.length]!);
    }
  }
  await sleep(50);
}

await append();
await sleep(20);
await pass(WARMUP);
recording = true;
await client.config('RESETSTAT');
await pass(EVENTS);
const stats = String(await client.info('commandstats'));
const usecPerCall = (cmd: string) =>
  Number(
    new RegExp(`cmdstat_${cmd}:calls=\\d+,usec=\\d+,usec_per_call=([\\d.]+)`).exec(stats)?.[1],
  );

const figures: Record<string, number> = {};
for (const kind of kinds) {
  const sorted = [...samples[kind]].sort((a, b) => a - b);
  figures[`${kind}_p50_ms`] = round(pct(sorted, 50));
  figures[`${kind}_p99_ms`] = round(pct(sorted, 99));
  console.log(
    `${kind.padEnd(8)} call -> subscriber p50 ${round(pct(sorted, 50))} ms p90 ${round(pct(sorted, 90))} ms p99 ${round(pct(sorted, 99))} ms (${sorted.length} messages)`,
  );
}
const redisPublishUs = usecPerCall('publish');
const redisEvalshaUs = usecPerCall('evalsha');
console.log(
  `Redis time per call: PUBLISH ${redisPublishUs} µs, EVALSHA (append script) ${redisEvalshaUs} µs; message ${Buffer.byteLength(lastScriptMessage)} B`,
);

await events.close();
await bus.close();
client.disconnect();
sub.disconnect();
await redis.close();
console.log(
  JSON.stringify({
    bench: 'append-floor',
    ...figures,
    redis_publish_usec: redisPublishUs,
    redis_evalsha_usec: redisEvalshaUs,
  }),
);
process.exit(0);
