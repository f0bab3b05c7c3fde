/**
 * The hand-written reference of `pnpm bench:system` (issue 18 §2): the same runs done the way a
 * competent engineer would write them with a BullMQ Flow and a Redis stream per run as the SSE
 * history, on the bench's Redis, so its Redis commands per run sit next to ours.
 * Per run: a Flow, a parent with one child per shard; each child publishes one event per test
 * with `XADD` (the history a hand-written SSE endpoint would replay and tail), the parent reads
 * its children's values and appends the final `done` event, then sets the history's expiry; the
 * watcher tails the stream with `XREAD BLOCK` until `done`, as that endpoint would.
 * Not in it: any PostgreSQL write (no Redis command), shard events, abort, sequence numbers
 * without gaps, exactly-once completion, callbacks, rate limits — so its count is a floor under
 * ours, not an equal.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';

/** The slice of BullMQ this reference uses (bullmq is @x/shard-worker's dependency). */
interface FlowJob {
  name: string;
  queueName: string;
  data: unknown;
  children?: FlowJob[];
}
interface Job {
  data: unknown;
  getChildrenValues(): Promise<Record<string, unknown>>;
}
interface BullWorker {
  close(): Promise<void>;
}
interface BullMq {
  FlowProducer: new (opts: {
    connection: Redis;
    prefix: string;
  }) => { add(flow: FlowJob): Promise<unknown>; close(): Promise<void> };
  Worker: new (
    queue: string,
    processor: (job: Job) => Promise<unknown>,
    opts: { connection: Redis; prefix: string; concurrency: number },
  ) => BullWorker;
}
const requireFromWorker = createRequire(createRequire(import.meta.url).resolve('@x/shard-worker'));
const bullmq = requireFromWorker('bullmq') as BullMq;

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
}

/** Runs `runs` Flows to their `done` event; answers the seconds they took. */
export async function flowReference(o: FlowReferenceOptions): Promise<{ seconds: number }> {
  const connection = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const producer = new bullmq.FlowProducer({ connection, prefix: o.prefix });
  const publisher = connection.duplicate();
  const history = (runId: string) => `${o.prefix}:events:${runId}`;
  // BullMQ leaves the connections it is given open: they are closed below.
  const [shardConnection, runConnection] = [connection.duplicate(), connection.duplicate()];
  const workers = [
    new bullmq.Worker(
      'ref-shards',
      async (job) => {
        const { runId, shard } = job.data as { runId: string; shard: number };
        // Zero-duration tests: each one's result is published as it finishes.
        await Promise.all(
          Array.from({ length: o.testsPerShard }, (_, t) =>
            publisher.xadd(
              history(runId),
              '*',
              'e',
              JSON.stringify({ type: 'result', shard, testId: `t${shard}-${t}`, status: 'passed' }),
            ),
          ),
        );
        return { passed: o.testsPerShard, failed: 0 };
      },
      { connection: shardConnection, prefix: o.prefix, concurrency: o.concurrency },
    ),
    new bullmq.Worker(
      'ref-runs',
      async (job) => {
        const { runId } = job.data as { runId: string };
        const values = Object.values(await job.getChildrenValues()) as { passed: number }[];
        const passed = values.reduce((t, v) => t + v.passed, 0);
        await publisher.xadd(history(runId), '*', 'e', JSON.stringify({ type: 'done', passed }));
        await publisher.expire(history(runId), 3600);
        return { passed };
      },
      { connection: runConnection, prefix: o.prefix, concurrency: o.concurrency },
    ),
  ];
  const tails = Array.from({ length: o.inFlight }, () => connection.duplicate());
  const total = o.shards * o.testsPerShard;
  let next = 0;
  const lane = async (tail: Redis) => {
    while (next < o.runs) {
      next++;
      const runId = crypto.randomUUID();
      await producer.add({
        name: 'run',
        queueName: 'ref-runs',
        data: { runId },
        children: Array.from({ length: o.shards }, (_, shard) => ({
          name: 'shard',
          queueName: 'ref-shards',
          data: { runId, shard },
        })),
      });
      let last = '0-0';
      let results = 0;
      for (;;) {
        const read = await tail.xread('BLOCK', 30_000, 'STREAMS', history(runId), last);
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
    return { seconds: (performance.now() - started) / 1000 };
  } finally {
    await Promise.all([...workers.map((w) => w.close()), producer.close()]);
    for (const c of [connection, publisher, shardConnection, runConnection, ...tails])
      c.disconnect();
  }
}
