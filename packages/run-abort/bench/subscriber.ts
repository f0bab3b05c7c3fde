// Process B or C of the benchmark: registers one shard of every benchmark run, and a raw
// ioredis subscriber for the reference. Records, in process.hrtime ms (CLOCK_MONOTONIC,
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
const bus = createBus({
  transport: redisTransport({ url: env('REDIS_URL') }),
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
const sub = new Redis(env('REDIS_URL'));
sub.on('message', (_channel: string, message: string) => {
  raw[message] = now();
});
await sub.subscribe(env('RAW_CHANNEL'));
// When the bus's abort message reaches this process, before the bus decodes it: splits the
// hop (Redis) from our handling (envelope, schema, registry, signal). Its own connection, so
// its stamp and the bus's delivery race for the event loop: read the split as approximate.
const arrived: Record<string, number> = {};
const tap = new Redis(env('REDIS_URL'));
tap.on('message', (_channel: string, message: string) => {
  const at = now();
  const runId = /"runId":"([^"]+)"/.exec(message)?.[1];
  if (runId) arrived[runId] = at;
});
await tap.subscribe(`${env('X_PREFIX')}:run-abort`);

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, file] = line.trim().split(/\s+/);
  if (command !== 'dump' || !file) return;
  writeFileSync(file, JSON.stringify({ aborts, arrived, raw, metrics: aborter.metrics() }));
  process.stdout.write(`DUMPED ${file}\n`);
});
process.on('SIGTERM', () => {
  void Promise.all([
    aborter.close().then(() => bus.close()),
    sub.quit(),
    tap.quit(),
    db.destroy(),
  ]).finally(() => process.exit(0));
});
process.stdout.write('READY\n');
