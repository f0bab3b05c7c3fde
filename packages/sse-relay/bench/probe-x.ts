// Scratch probe (not committed): EVALSHA-with-PUBLISH vs PUBLISH, publisher and subscriber in different processes.
import { readFileSync } from 'node:fs';
import { spawnNode, startRedis } from '@x/testkit';
import { Redis } from 'ioredis';
import { APPEND_SCRIPT } from '../src/lua/scripts.js';
const redis = await startRedis();
const c = new Redis(redis.url);
const sub = await spawnNode('/tmp/hsse/probe-sub.ts', { REDIS_URL: redis.url });
const sha = String(await c.script('LOAD', 'local PRIMARY_EPOCH = false\n' + APPEND_SCRIPT));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => String(performance.timeOrigin + performance.now());
let n = 0;
for (let i = 0; i < 6000; i++) {
  await sleep(1);
  const t = now();
  const json = JSON.stringify({ type: 'log', runId: 'r', level: 'info', message: t });
  if (i % 2 === 0) await c.publish('p:raw', `{"v":3,"origin":"inst_0123456789abcdef0123456789abcdef","channel":"p:raw","ts":1,"payload":[{"seq":${i},"epoch":"abc","event":${json}}]}`);
  else await c.evalsha(sha, 2, 'p:run:{r}:seq', 'p:run:{r}:history', 0, 10000, 86400000, 600000, 'PUBLISH', 'p:script', '{"v":3,"origin":"inst_0123456789abcdef0123456789abcdef","channel":"p:script","ts":1,"payload":', '}', 262144, 'ep' + i, 'o', ++n, 'log', json);
}
await sleep(1500);
const d = JSON.parse(readFileSync('/tmp/hsse/probe/sub.json', 'utf8')) as Record<string, number[]>;
for (const [k, v] of Object.entries(d)) {
  const s = v.slice(300).sort((a, b) => a - b);
  console.log(k, 'p50', s[Math.floor(s.length / 2)]!.toFixed(3), 'p90', s[Math.floor(s.length * 0.9)]!.toFixed(3), 'ms');
}
await sub.kill(); c.disconnect(); await redis.close(); process.exit(0);
