/**
 * The hand-written reference of `pnpm bench:system` (c, d) in this process: the runs of
 * reference-system.ts, each watched by tailing its stream with `XREAD BLOCK` until `done`, as a
 * hand-written SSE endpoint would, on the bench's Redis, so its Redis commands per run sit
 * next to ours. Not in it: HTTP (no request, no SSE frame; see http-reference.ts), and
 * without `db` any PostgreSQL write. So its counts are a floor under ours, not an equal.
 */
import { DURABLE_REFERENCE_SQL } from '@x/testkit';
import { Redis } from 'ioredis';
import {
  addReferenceRun,
  bullmq,
  exactRuns,
  historyKey,
  referenceWorkers,
  type Sql,
} from './reference-system.js';

export type { Sql } from './reference-system.js';

export interface FlowReferenceOptions {
  redisUrl: string;
  /** Key prefix (BullMQ's and the event streams'). */
  prefix: string;
  runs: number;
  /** Runs in flight at once, each watched by its own tail. */
  inFlight: number;
  shards: number;
  testsPerShard: number;
  /** Jobs each BullMQ worker runs at once. */
  concurrency: number;
  /** Where the durable writes go (a `pg.Pool`); none without it. The caller ends it. */
  db?: Sql;
}

/** Runs `runs` Flows to their `done` event; answers the seconds they took. */
export async function flowReference(o: FlowReferenceOptions): Promise<{ seconds: number }> {
  await o.db?.query(DURABLE_REFERENCE_SQL.SCHEMA);
  const connection = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const producer = new bullmq.FlowProducer({ connection, prefix: o.prefix });
  const workers = referenceWorkers({
    connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
    ...(o.db ? { db: o.db } : {}),
  });
  const tails = Array.from({ length: o.inFlight }, () => connection.duplicate());
  const shards = Array.from({ length: o.shards }, (_, shard) =>
    Array.from({ length: o.testsPerShard }, (_, t) => `t${shard}-${t}`),
  );
  const total = o.shards * o.testsPerShard;
  let next = 0;
  const ids: string[] = [];
  const lane = async (tail: Redis) => {
    while (next < o.runs) {
      next++;
      const runId = crypto.randomUUID();
      ids.push(runId);
      await addReferenceRun(producer, o.db, runId, shards);
      let last = '0-0';
      let results = 0;
      for (;;) {
        const key = historyKey(o.prefix, runId);
        const read = await tail.xread('BLOCK', 30_000, 'STREAMS', key, last);
        const entries = read?.[0]?.[1];
        if (!entries) throw new Error(`flow reference: run ${runId} went quiet for 30 s`);
        let done: { passed: number } | undefined;
        for (const [id, fields] of entries) {
          last = id;
          const event = JSON.parse(fields[1] ?? '{}') as { type: string; passed: number };
          if (event.type === 'result') results++;
          else if (event.type === 'done') done = event;
        }
        if (done) {
          if (done.passed !== total || results !== total)
            throw new Error(`flow reference: run ${runId} done with ${results} of ${total}`);
          break;
        }
      }
    }
  };
  const started = performance.now();
  try {
    await Promise.all(tails.map(lane));
    const seconds = (performance.now() - started) / 1000;
    // The parent writes the final status before it appends `done`: every run is in by now.
    const exact = o.db && (await exactRuns(o.db, ids, total));
    if (o.db && exact !== o.runs)
      throw new Error(`flow reference: ${exact} of ${o.runs} runs exact in PostgreSQL`);
    return { seconds };
  } finally {
    await Promise.all([workers.close(), producer.close()]);
    for (const c of [connection, ...tails]) c.disconnect();
  }
}
