import { startRedis } from '@x/testkit';
import { Redis } from 'ioredis';
import { createBus, createOrigin, redisTransport } from '../src/index.js';
import { benchChannel, PAD } from './shared.js';

const redis = await startRedis();
const N = 60_000;
const BATCH = Number(process.env.BATCH ?? 20);
async function measure(label: string, send: (i: number) => Promise<unknown> | void) {
  let last: unknown;
  for (let w = 0; w < 5000; w++) last = send(w);
  await last;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    last = send(i);
    if (i % BATCH === 0) await new Promise((r) => setImmediate(r));
  }
  await last;
  await new Promise((r) => setTimeout(r, 50));
  const c = process.cpuUsage(c0);
  console.log(
    label.padEnd(12),
    'cpu us/msg',
    ((c.user + c.system) / N).toFixed(2),
    'sys',
    (c.system / N).toFixed(2),
  );
}
const pub = new Redis(redis.url);
await measure('raw', (i) => pub.publish('raw', JSON.stringify({ seq: i, t: 1, pad: PAD })));
const a = createBus({ transport: redisTransport({ url: redis.url }), origin: createOrigin() });
await a.ready();
const ch = a.channel(benchChannel, { id: 'x' });
await measure('bus', (i) => void ch.publish({ seq: i, t: 1, pad: PAD }));
await measure('raw', (i) => pub.publish('raw', JSON.stringify({ seq: i, t: 1, pad: PAD })));
await measure('bus', (i) => void ch.publish({ seq: i, t: 1, pad: PAD }));
pub.disconnect();
await a.close();
await redis.close();
