// Runs one side of the shard-worker bench alone, for a CPU profile or a quick A/B:
// `PROFILE_SIDE=ours|durable PROFILE_ROUNDS=3 node --cpu-prof --import tsx bench/profile-side.ts`.
// One warm-up round first (not printed), so JIT and connection set-up stay out of the figures.
// Prints seconds and CPU per run of each round; no JSON summary (bench/index.ts is the bench).
import { postgres, startRedis } from '@x/testkit';
import { durableFlows } from './durable-reference.js';
import { ours } from './ours.js';
import { RUNS } from './settings.js';

const side = process.env.PROFILE_SIDE ?? 'ours';
const rounds = Number(process.env.PROFILE_ROUNDS ?? 3);
const redis = await startRedis();
const db = await postgres('shard-worker-profile');
const none = async () => Number.NaN;
const round = () =>
  side === 'durable' ? durableFlows(redis.url, db.url) : ours(redis.url, db.url, none);
try {
  await round();
  for (let i = 0; i < rounds; i++) {
    const r = await round();
    const per = (ms: number) => (ms / RUNS).toFixed(2);
    console.log(
      `${side} round ${i + 1}: ${r.seconds.toFixed(2)} s, ${(RUNS / r.seconds).toFixed(1)} runs/s, CPU per run machine ${per(r.machineMs)} ms, this process ${per(r.ownMs)}, Redis ${per(r.redisMs)}`,
    );
  }
} finally {
  await db.close();
  await redis.close();
}
