/**
 * `pnpm --filter @x/sse-relay bench:idempotent-append`: what the append token (an
 * idempotent append: the origin's record read from and written into the run's counter, which
 * the script reads and writes anyway; before 2026-12-06 evening a `GET` and a `SET` of a key of
 * its own) costs the server. A private Redis; alternating rounds of APPENDS single-event appends over 100 runs
 * without a token (the reference, as before) and with one, each round after `CONFIG
 * RESETSTAT`; Redis's own time per `EVALSHA` (commandstats, the script's commands included)
 * and the client's appends/s.
 * Last line: {"bench":"idempotent-append","plain_usec_per_append":…,"token_usec_per_append":…,
 * "ratio":…,"plain_appends_per_s":…,"token_appends_per_s":…}.
 */
import { randomUUID } from 'node:crypto';
import { startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import { type AppendOptions, redisEventLog } from '../src/index.js';

const ROUNDS = Number(process.env.X_BENCH_ROUNDS ?? 4);
const APPENDS = Number(process.env.X_BENCH_APPENDS ?? 5000);
const IN_FLIGHT = 32;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 100) / 100;

async function main() {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const prefix = uniqueName('ia');
  // Published, as RunEvents appends (a channel nobody listens to).
  const log = redisEventLog({ redis: client, prefix });
  const json = JSON.stringify({ type: 'log', runId: 'r', level: 'info', message: 'x'.repeat(80) });
  const publish = {
    channel: `${prefix}:bench`,
    head: '{"v":1,"d":',
    tail: '}',
    maxBytes: 65_536,
    ts: 0,
  };
  const base: AppendOptions = { floor: 0, historyLimit: 1000, ttlMs: 60_000, publish };
  const figures = {
    plain: { usec: [] as number[], rate: [] as number[] },
    token: { usec: [] as number[], rate: [] as number[] },
  };
  let n = 0;
  const origin = randomUUID().slice(0, 12);
  try {
    for (let round_ = 0; round_ < ROUNDS * 2; round_++) {
      const kind = round_ % 2 === 0 ? 'plain' : 'token';
      const runs = Array.from({ length: 100 }, () => randomUUID());
      await client.config('RESETSTAT');
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < APPENDS) {
            const i = next++;
            const opts = kind === 'token' ? { ...base, token: { origin, n: ++n } } : base;
            await log.appendMany(runs[i % runs.length]!, [{ type: 'log', json }], opts);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await client.info('commandstats'));
      figures[kind].usec.push(Number(m?.[2] ?? 0) / Number(m?.[1] ?? 1));
      figures[kind].rate.push(APPENDS / seconds);
    }
    const plain = median(figures.plain.usec);
    const token = median(figures.token.usec);
    console.log(
      `${ROUNDS} rounds each of ${APPENDS} appends, ${IN_FLIGHT} in flight, alternating; Redis time per append (EVALSHA usec_per_call, median): no token ${round(plain)} us (rounds ${figures.plain.usec.map(round).join(', ')}), token ${round(token)} us (rounds ${figures.token.usec.map(round).join(', ')}); appends/s (median): no token ${round(median(figures.plain.rate))}, token ${round(median(figures.token.rate))}`,
    );
    console.log(
      JSON.stringify({
        bench: 'idempotent-append',
        plain_usec_per_append: round(plain),
        token_usec_per_append: round(token),
        ratio: round(token / plain),
        plain_appends_per_s: round(median(figures.plain.rate)),
        token_appends_per_s: round(median(figures.token.rate)),
      }),
    );
  } finally {
    client.disconnect();
    await redis.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
