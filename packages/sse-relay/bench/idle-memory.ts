// Memory per idle SSE connection, measured in a separate process (bench/idle-relay.ts) so
// the clients' own memory is not counted. Every counted connection has completed the
// handshake: its client received the snapshot frame and the relay reports it as both an
// open connection and a registered run listener. Standalone: `tsx bench/idle-memory.ts`
// (BENCH_IDLE=count, HEAP_DIR=dir to also write heap snapshots before/after).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type NodeProcess, spawnNode, startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { openSse, type SseStream } from '../test/sse-client.js';

export interface MemReading {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  connections: number;
  listeners: number;
}

export type MedianIdleMemory = IdleMemory & { rounds: IdleMemory[] };

export interface IdleMemory {
  mode: 'relay' | 'bare' | 'express';
  connections: number;
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

async function ask(proc: NodeProcess, command: string, answer: string): Promise<string> {
  const count = proc.lines.filter((l) => l.startsWith(answer)).length;
  proc.send(command);
  for (;;) {
    const lines = proc.lines.filter((l) => l.startsWith(answer));
    if (lines.length > count) return lines.at(-1)!.slice(answer.length + 1);
    await sleep(20);
  }
}
/** Compiles src as published (tsc) into node_modules/.cache, leaving dist alone. */
export function buildForBench(): string {
  const outDir = here('../node_modules/.cache/sse-relay-bench');
  execFileSync(
    here('../../../node_modules/.bin/tsc'),
    [
      '-p',
      here('../tsconfig.build.json'),
      '--outDir',
      outDir,
      '--declaration',
      'false',
      '--declarationMap',
      'false',
      '--sourceMap',
      'false',
    ],
    { stdio: 'inherit' },
  );
  return `${outDir}/index.js`;
}

const mem = async (proc: NodeProcess): Promise<MemReading> =>
  JSON.parse(await ask(proc, 'mem', 'MEM'));

async function openIdle(url: string, count: number): Promise<SseStream[]> {
  const streams: SseStream[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, () =>
        openSse(url, { headers: { 'x-workspace': 'ws' } }),
      ),
    );
    streams.push(...batch);
  }
  // Handshake complete = the snapshot frame arrived (headers alone do not count).
  for (let i = 0; i < 500 && !streams.every((s) => s.events[0]?.type === 'snapshot'); i++) {
    await sleep(20);
  }
  const missing = streams.filter((s) => s.events[0]?.type !== 'snapshot').length;
  if (missing > 0) throw new Error(`${missing} of ${count} connections got no snapshot frame`);
  return streams;
}

async function closeAll(proc: NodeProcess, streams: SseStream[]): Promise<void> {
  for (const s of streams) s.close();
  for (let i = 0; i < 250; i++) {
    if ((await mem(proc)).connections === 0) return;
    await sleep(20);
  }
  throw new Error('connections were not released');
}

/** Bytes per idle connection: (reading with `count` open − reading before) / count. */
export async function measureIdleMemory(opts: {
  mode: 'relay' | 'bare' | 'express';
  redisUrl: string;
  count: number;
  /** `buildForBench()`'s entry point. */
  build: string;
  heapDir?: string;
}): Promise<IdleMemory> {
  const prefix = uniqueName('idle');
  const admin = new Redis(opts.redisUrl);
  const runId = randomUUID();
  await admin.hset(`${prefix}:testrun:${runId}`, { workspaceId: 'ws', status: 'running' });
  const proc = await spawnNode(
    here('./idle-relay.ts'),
    {
      REDIS_URL: opts.redisUrl,
      X_PREFIX: prefix,
      MODE: opts.mode,
      RELAY_BUILD: opts.build,
      NODE_OPTIONS: '--expose-gc',
    },
    { readyTimeoutMs: 60_000 },
  );
  try {
    const url = `http://127.0.0.1:${(await proc.waitForLine(/^READY/)).split(' ')[1]}/runs/${runId}/events`;
    // Warm-up: code paths compiled, pools and module state created once, outside the delta.
    await closeAll(proc, await openIdle(url, Math.min(500, opts.count)));
    const heap = (name: string) =>
      opts.heapDir
        ? ask(proc, `heap ${opts.heapDir}/${opts.mode}-${name}.heapsnapshot`, 'HEAP')
        : 0;
    await heap('base');
    const base = await mem(proc);
    const streams = await openIdle(url, opts.count);
    await sleep(300);
    const loaded = await mem(proc);
    if (loaded.connections !== opts.count || loaded.listeners !== opts.count) {
      throw new Error(
        `expected ${opts.count} registered connections, relay reports ${loaded.connections} connections / ${loaded.listeners} listeners`,
      );
    }
    await heap('loaded');
    await closeAll(proc, streams);
    const per = (key: 'rss' | 'heapUsed' | 'external') =>
      Math.round((loaded[key] - base[key]) / opts.count);
    return {
      mode: opts.mode,
      connections: opts.count,
      rssPerConn: per('rss'),
      heapPerConn: per('heapUsed'),
      externalPerConn: per('external'),
    };
  } finally {
    await proc.kill();
    admin.disconnect();
  }
}

/**
 * `measureIdleMemory` in `rounds` fresh processes; each figure is the median over them
 * (RSS moves by a few KB per connection between processes with where GC leaves pages).
 */
export async function medianIdleMemory(
  opts: Parameters<typeof measureIdleMemory>[0] & { rounds: number },
): Promise<MedianIdleMemory> {
  const rounds: IdleMemory[] = [];
  for (let i = 0; i < opts.rounds; i++) rounds.push(await measureIdleMemory(opts));
  const median = (key: 'rssPerConn' | 'heapPerConn' | 'externalPerConn') =>
    rounds.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!;
  return {
    mode: opts.mode,
    connections: opts.count,
    rssPerConn: median('rssPerConn'),
    heapPerConn: median('heapPerConn'),
    externalPerConn: median('externalPerConn'),
    rounds,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const redis = await startRedis();
  const build = buildForBench();
  const count = Number(process.env.BENCH_IDLE ?? 5_000);
  for (const mode of (process.env.MODES ?? 'bare,express,relay').split(',') as Array<
    'relay' | 'bare' | 'express'
  >) {
    const r = await medianIdleMemory({
      mode,
      redisUrl: redis.url,
      count,
      build,
      heapDir: process.env.HEAP_DIR,
      rounds: Number(process.env.ROUNDS ?? 3),
    });
    console.log(
      `${mode.padEnd(7)} ${count} idle: RSS +${r.rssPerConn} B/conn, heap +${r.heapPerConn} B/conn (median of ${r.rounds.length}: RSS ${r.rounds.map((x) => x.rssPerConn).join(' / ')})`,
    );
  }
  await redis.close();
  process.exit(0);
}
