// Publisher process. env: MODE (bus|raw), REDIS_URL, CHANNEL_ID, PREFIX.
// stdin: `run <rate> <durationMs>` -> stdout `SENT <count> <elapsedMs> <errors> <cpuUsPerMsg>`.
import { createInterface } from 'node:readline';
import { setTimeout as sleep, setImmediate as yieldToIo } from 'node:timers/promises';
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

/**
 * Sends at `rate` msg/s: each turn sends what is due, then yields to I/O; when nothing is due
 * it sleeps instead of spinning (the machine has 2 cores shared by three processes).
 */
async function run(rate: number, durationMs: number): Promise<void> {
  const total = Math.round((rate * durationMs) / 1_000);
  const started = performance.now();
  const cpu = process.cpuUsage();
  let seq = 0;
  while (seq < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1_000) + 1);
    if (due === seq) await sleep(Math.max(0, (seq * 1_000) / rate - (performance.now() - started)));
    while (seq < due) send(seq++);
    await yieldToIo();
  }
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await sleep(150);
  const cpuPerMsg = (used.user + used.system) / seq;
  console.log(`SENT ${seq} ${elapsed.toFixed(1)} ${errors} ${cpuPerMsg.toFixed(2)}`);
}

console.log('READY');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, rate, durationMs] = line.split(' ');
  if (command === 'run') void run(Number(rate), Number(durationMs));
  if (command === 'exit') process.exit(0);
});
