// Subscriber process. env as the publisher. stdin: `reset` | `report <expected>`;
// stdout: `RESULT {"received","p50_ms","p99_ms","cpu_us","dropped"}` once `expected` arrived or 2 s passed.
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createBus, redisTransport } from '../src/index.js';
import { benchChannel, benchEnv, nowUs, percentile } from './shared.js';

const { MODE, REDIS_URL, CHANNEL_ID, PREFIX } = benchEnv();
const samples = new Float64Array(4_000_000);
let received = 0;
let cpu = process.cpuUsage();
const record = (t: number) => {
  if (received < samples.length) samples[received] = nowUs() - t;
  received++;
};
let bus: ReturnType<typeof createBus> | undefined;

if (MODE === 'bus') {
  bus = createBus({ transport: redisTransport({ url: REDIS_URL, strict: true }), prefix: PREFIX });
  await bus.ready();
  await bus.channel(benchChannel, { id: CHANNEL_ID }).subscribe(({ t }) => record(t));
} else {
  const redis = new Redis(REDIS_URL);
  const name = `${PREFIX}:bench:${CHANNEL_ID}`;
  redis.on('message', (_channel: string, message: string) => {
    const { t } = JSON.parse(message) as { t: number };
    record(t);
  });
  await redis.subscribe(name);
}

async function report(expected: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (received < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const used = process.cpuUsage(cpu);
  const sorted = samples.slice(0, Math.min(received, samples.length)).sort();
  const result = {
    received,
    p50_ms: percentile(sorted, 50) / 1_000,
    p99_ms: percentile(sorted, 99) / 1_000,
    cpu_us: (used.user + used.system) / Math.max(1, received),
    dropped: bus ? Object.values(bus.metrics().dropped).reduce((a, b) => a + b, 0) : 0,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

console.log('READY');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, arg] = line.split(' ');
  if (command === 'reset') {
    received = 0;
    cpu = process.cpuUsage();
    console.log('RESET');
  }
  if (command === 'report') void report(Number(arg));
  if (command === 'exit') process.exit(0);
});
