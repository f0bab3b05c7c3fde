/**
 * `pnpm --filter @x/sse-relay bench:primary-epoch`: what `epochPerPrimary` (one `CLUSTER
 * MYID` inside each event-log script, on for a Redis Cluster) costs the server. A private
 * cluster of 3 primaries; alternating rounds of APPENDS single-event appends over 100 runs
 * with the plain log (the reference) and the per-primary log, each round after `CONFIG
 * RESETSTAT` on every primary; Redis's own time per `EVALSHA` (commandstats, the script's
 * commands included, summed over the primaries) and the client's appends/s.
 * Last line: {"bench":"primary-epoch","plain_usec_per_append":…,"per_primary_usec_per_append":…,
 * "ratio":…,"plain_appends_per_s":…,"per_primary_appends_per_s":…}.
 */
import { randomUUID } from 'node:crypto';
import { startRedisCluster, uniqueName } from '@x/testkit';
import { Cluster, Redis } from 'ioredis';
import { redisEventLog } from '../src/index.js';

const ROUNDS = Number(process.env.X_BENCH_ROUNDS ?? 4);
const APPENDS = Number(process.env.X_BENCH_APPENDS ?? 5000);
const IN_FLIGHT = 32;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 100) / 100;

async function main() {
  const cluster = await startRedisCluster({ replicasPerPrimary: 0 });
  const client = new Cluster(cluster.startupNodes);
  const primaries = cluster.nodes.map((n) => new Redis(n.port, n.host));
  const prefix = uniqueName('pe');
  const logs = {
    plain: redisEventLog({ redis: client, prefix, publish: false }),
    perPrimary: redisEventLog({ redis: client, prefix, publish: false, epochPerPrimary: true }),
  };
  const json = JSON.stringify({ type: 'log', runId: 'r', level: 'info', message: 'x'.repeat(80) });
  const opts = { floor: 0, historyLimit: 1000, ttlMs: 60_000 };
  const figures = {
    plain: { usec: [] as number[], rate: [] as number[] },
    perPrimary: { usec: [] as number[], rate: [] as number[] },
  };
  try {
    for (let round_ = 0; round_ < ROUNDS * 2; round_++) {
      const kind = round_ % 2 === 0 ? 'plain' : 'perPrimary';
      const log = logs[kind];
      const runs = Array.from({ length: 100 }, () => randomUUID());
      for (const p of primaries) await p.config('RESETSTAT');
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < APPENDS) {
            const i = next++;
            await log.appendMany(runs[i % runs.length]!, [{ type: 'log', json }], opts);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      let calls = 0;
      let spent = 0;
      for (const p of primaries) {
        const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await p.info('commandstats'));
        calls += Number(m?.[1] ?? 0);
        spent += Number(m?.[2] ?? 0);
      }
      const usec = spent / calls;
      figures[kind].usec.push(usec);
      figures[kind].rate.push(APPENDS / seconds);
    }
    const plain = median(figures.plain.usec);
    const perPrimary = median(figures.perPrimary.usec);
    console.log(
      `${ROUNDS} rounds each of ${APPENDS} appends, ${IN_FLIGHT} in flight, alternating; Redis time per append (EVALSHA usec_per_call, median): plain ${round(plain)} us (rounds ${figures.plain.usec.map(round).join(', ')}), epochPerPrimary ${round(perPrimary)} us (rounds ${figures.perPrimary.usec.map(round).join(', ')}); appends/s (median): plain ${round(median(figures.plain.rate))}, epochPerPrimary ${round(median(figures.perPrimary.rate))}`,
    );
    console.log(
      JSON.stringify({
        bench: 'primary-epoch',
        plain_usec_per_append: round(plain),
        per_primary_usec_per_append: round(perPrimary),
        ratio: round(perPrimary / plain),
        plain_appends_per_s: round(median(figures.plain.rate)),
        per_primary_appends_per_s: round(median(figures.perPrimary.rate)),
      }),
    );
  } finally {
    client.disconnect();
    for (const p of primaries) p.disconnect();
    await cluster.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
