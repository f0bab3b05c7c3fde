// Socket.IO reference: the emitter publishes through @socket.io/redis-adapter on `go N
// intervalMs`; the other process serves the clients. Both talk to REDIS_URL. `go N intervalMs
// history`: each event is first appended to a run history by sse-relay's append script (its
// publish off), awaited, then emitted: Socket.IO with the step that makes our resume exact
// (the history holds an event before any client sees it), the like-for-like reference.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { redisEventLog } from '../src/index.js';

const url = process.env.REDIS_URL!;
const pub = new Redis(url);
const sub = pub.duplicate();
const http = createServer();
const log = redisEventLog({ redis: pub, prefix: process.env.X_PREFIX ?? 'x', publish: false });
const historyRunId = `io-${process.pid}`;
let token = 0;
const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ['websocket'] });
io.on('connection', (socket) => socket.join('run'));
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, count, interval, mode] = line.split(' ');
  if (cmd !== 'go') return;
  const start = performance.now();
  for (let i = 0; i < Number(count); i++) {
    const wait = start + i * Number(interval) - performance.now();
    if (wait > 0) await sleep(wait);
    const event = {
      type: 'log',
      level: 'info',
      message: String(performance.timeOrigin + performance.now()),
    };
    if (mode === 'history') {
      await log.appendMany(
        historyRunId,
        [{ type: 'log', json: JSON.stringify({ ...event, runId: historyRunId }) }],
        { floor: 0, historyLimit: 10_000, ttlMs: 60_000, token: { origin: 'io', n: ++token } },
      );
    }
    io.to('run').emit('log', event);
  }
  console.log('FINISHED');
});
console.log(`READY ${(http.address() as AddressInfo).port}`);
