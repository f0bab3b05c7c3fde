// Socket.IO reference: ROLE=emitter publishes through @socket.io/redis-adapter on `go N
// intervalMs`; ROLE=relay serves the clients. Both talk to REDIS_URL.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const url = process.env.REDIS_URL!;
const pub = new Redis(url);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ['websocket'] });
io.on('connection', (socket) => socket.join('run'));
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, count, interval] = line.split(' ');
  if (cmd !== 'go') return;
  const start = performance.now();
  for (let i = 0; i < Number(count); i++) {
    const wait = start + i * Number(interval) - performance.now();
    if (wait > 0) await sleep(wait);
    io.to('run').emit('log', {
      type: 'log',
      level: 'info',
      message: String(performance.timeOrigin + performance.now()),
    });
  }
  console.log('FINISHED');
});
console.log(`READY ${(http.address() as AddressInfo).port}`);
