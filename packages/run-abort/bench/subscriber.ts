// Process B or C of the benchmark: registers one shard of every benchmark run, and a raw
// ioredis subscriber for the references (a bare PUBLISH, and the hand-written abort's message). Records, in process.hrtime ms (CLOCK_MONOTONIC,
// shared by all processes on the machine), when each shard's signal fired and when each raw
// message arrived; `dump <file>` writes them out.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createBus, redisTransport } from '@x/pubsub-core';
import { createRunStore, openPostgres } from '@x/run-store';
import { Redis } from 'ioredis';
import { createRunAborter, createShardRegistry } from '../src/index.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`bench subscriber: ${name} is required`);
  return value;
};
const now = () => Number(process.hrtime.bigint()) / 1e6;

const db = openPostgres(env('DATABASE_URL'), { max: 1 });
// When the bus's abort message reaches this process: a listener put ahead of the bus's own on
// its subscriber connection stamps it before the bus decodes it, splitting the hop (Redis)
// from our handling (envelope, schema, registry, signal).
const arrived: Record<string, number> = {};
const bus = createBus({
  transport: redisTransport({
    createClient: (role) => {
      // The transport's own defaults for its clients (redis-transport.ts).
      const client = new Redis(env('REDIS_URL'), {
        lazyConnect: true,
        enableOfflineQueue: false,
        autoResubscribe: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
      });
      if (role === 'subscriber') {
        client.prependListener('message', (_channel: string, message: string) => {
          const at = now();
          const runId = /"runId":"([^"]+)"/.exec(message)?.[1];
          if (runId) arrived[runId] = at;
        });
      }
      return client;
    },
  }),
  prefix: env('X_PREFIX'),
});
await bus.ready();
const registry = createShardRegistry();
const aborter = createRunAborter({ bus, store: createRunStore(db), registry });
const shardIndex = Number(env('SHARD_INDEX'));
const aborts: Record<string, number> = {};
for (const runId of JSON.parse(readFileSync(env('RUNS_FILE'), 'utf8')) as string[]) {
  const controller = new AbortController();
  controller.signal.addEventListener('abort', () => {
    aborts[runId] = now();
  });
  registry.register(runId, shardIndex, controller);
}
await aborter.start();

const raw: Record<string, number> = {};
// The hand-written abort's subscriber side, as a user would write it: parse the message, look
// the run's controller up, abort it.
const handControllers = new Map<string, AbortController>();
const hand: Record<string, number> = {};
for (const runId of JSON.parse(readFileSync(env('HAND_RUNS_FILE'), 'utf8')) as string[]) {
  const controller = new AbortController();
  controller.signal.addEventListener('abort', () => {
    hand[runId] = now();
  });
  handControllers.set(runId, controller);
}
const sub = new Redis(env('REDIS_URL'));
sub.on('message', (channel: string, message: string) => {
  if (channel === env('RAW_CHANNEL')) {
    raw[message] = now();
    return;
  }
  const { runId, reason } = JSON.parse(message) as { runId: string; reason: string };
  handControllers.get(runId)?.abort(reason);
});
await sub.subscribe(env('RAW_CHANNEL'), env('HAND_CHANNEL'));

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, file] = line.trim().split(/\s+/);
  if (command !== 'dump' || !file) return;
  writeFileSync(file, JSON.stringify({ aborts, arrived, raw, hand, metrics: aborter.metrics() }));
  process.stdout.write(`DUMPED ${file}\n`);
});
process.on('SIGTERM', () => {
  void Promise.all([aborter.close().then(() => bus.close()), sub.quit(), db.destroy()]).finally(
    () => process.exit(0),
  );
});
process.stdout.write('READY\n');
