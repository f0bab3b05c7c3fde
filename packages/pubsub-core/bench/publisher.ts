// Publisher process. env: MODE (bus|raw), REDIS_URL, CHANNEL_ID, PREFIX.
// stdin: `run <rate> <durationMs>` -> stdout `SENT <count> <elapsedMs> <errors>`.
import { createInterface } from 'node:readline';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createBus, redisTransport } from '../src/index.js';
import { benchChannel, benchEnv, nowUs, PAD } from './shared.js';

const { MODE, REDIS_URL, CHANNEL_ID, PREFIX } = benchEnv();
let errors = 0;
let send: (seq: number) => void;

if (MODE === 'bus') {
  const bus = createBus({
    transport: redisTransport({ url: REDIS_URL, strict: true }),
    prefix: PREFIX,
  });
  await bus.ready();
  const channel = bus.channel(benchChannel, { id: CHANNEL_ID });
  send = (seq) => void channel.publish({ seq, t: nowUs(), pad: PAD });
  setInterval(() => (errors = bus.metrics().publishErrors), 100).unref();
} else {
  const redis = new Redis(REDIS_URL);
  const name = `${PREFIX}:bench:${CHANNEL_ID}`;
  const onError = () => void errors++;
  send = (seq) =>
    void redis.publish(name, JSON.stringify({ seq, t: nowUs(), pad: PAD })).catch(onError);
}

/** Sends at `rate` msg/s: each turn of the event loop sends what is due, then yields to I/O. */
async function run(rate: number, durationMs: number): Promise<void> {
  const total = Math.round((rate * durationMs) / 1_000);
  const started = performance.now();
  let seq = 0;
  while (seq < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1_000) + 1);
    while (seq < due) send(seq++);
    await yieldToIo();
  }
  const elapsed = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 150));
  console.log(`SENT ${seq} ${elapsed.toFixed(1)} ${errors}`);
}

console.log('READY');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, rate, durationMs] = line.split(' ');
  if (command === 'run') void run(Number(rate), Number(durationMs));
  if (command === 'exit') process.exit(0);
});
