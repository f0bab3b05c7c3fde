// The process measured for memory per idle SSE connection. MODE=relay: Express + the SSE
// router on a Redis bus and log (as in production). MODE=bare: node:http writing the same
// headers and snapshot frame by hand, holding each response in a Set — the floor Node's own
// request/response/socket costs, for comparison. Commands on stdin:
//   `mem`          → `MEM {...}`: GC forced (needs --expose-gc), then the median of 5 readings
//   `heap <file>`  → writes a V8 heap snapshot, answers `HEAP <file>`
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import express from 'express';
import { type RelayModule, redisRelayApp } from '../test/fixtures/redis-relay-app.js';

// The package as it ships (tsc output, built by idle-memory.ts into RELAY_BUILD): under tsx the
// source would carry esbuild's keepNames wrappers, an own `name` property on every closure.
const relayBuild = (await import(process.env.RELAY_BUILD!)) as RelayModule;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc: readings without a forced GC are noise');

let connections: () => { connections: number; listeners: number };
let server: ReturnType<typeof createServer>;
if (process.env.MODE === 'bare' || process.env.MODE === 'express') {
  const open = new Set<ServerResponse>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const runId = req.url?.split('/')[2];
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: 2000\n\ndata: ${JSON.stringify({ type: 'snapshot', runId })}\n\n`);
    open.add(res);
    res.on('close', () => open.delete(res));
  };
  if (process.env.MODE === 'bare') server = createServer(handler);
  else {
    const app = express();
    app.get('/runs/:runId/events', handler);
    server = createServer(app);
  }
  connections = () => ({ connections: open.size, listeners: open.size });
} else {
  const { app, router, events } = await redisRelayApp(
    relayBuild,
    process.env.REDIS_URL!,
    process.env.X_PREFIX!,
  );
  server = createServer(app);
  connections = () => ({
    connections: router.metrics().connections,
    listeners: events.metrics().listeners,
  });
}
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

/** Forced full GCs, then the median of five readings (each after its own GC). */
async function reading() {
  const samples: NodeJS.MemoryUsage[] = [];
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 3; j++) gc!();
    await sleep(50);
    gc!();
    samples.push(process.memoryUsage());
  }
  const median = (key: keyof NodeJS.MemoryUsage) =>
    samples.map((s) => s[key]).sort((a, b) => a - b)[2]!;
  return {
    rss: median('rss'),
    heapUsed: median('heapUsed'),
    external: median('external'),
    arrayBuffers: median('arrayBuffers'),
    ...connections(),
  };
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'mem') console.log(`MEM ${JSON.stringify(await reading())}`);
  else if (cmd === 'heap' && arg) {
    gc!();
    writeHeapSnapshot(arg);
    console.log(`HEAP ${arg}`);
  }
});
process.on('SIGTERM', () => process.exit(0));
console.log(`READY ${(server.address() as AddressInfo).port}`);
