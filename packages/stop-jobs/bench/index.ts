// 50,000 stop jobs through the consumer group (batched reads, one MULTI per batch) and
// through the seed's way (XREAD COUNT 1, result XADD and offset SET per entry, sequential),
// same Redis, same run. Prints figures, then one JSON line last.
import { randomUUID } from 'node:crypto';
import { startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import {
  createStopJobsConsumer,
  decodeStopJob,
  encodeStopJobResult,
  type StopService,
  stopJobsStreams,
} from '../src/index.js';

const ENTRIES = 50_000;
const TIME_LIMIT_MS = 90_000;

const noop: StopService = {
  stop: async () => ({
    outcome: 'success',
    errorCode: '',
    errorMessage: '',
    finalStatus: 'aborted',
  }),
};

async function fill(redis: Redis, stream: string, n: number) {
  for (let offset = 0; offset < n; offset += 1000) {
    const pipeline = redis.pipeline();
    for (let i = offset; i < Math.min(n, offset + 1000); i++) {
      pipeline.xadd(
        stream,
        '*',
        'run_id',
        randomUUID(),
        'reason',
        'user_request',
        'requested_at_ms',
        String(Date.now()),
      );
    }
    await pipeline.exec();
  }
}

async function consumerGroup(redis: Redis): Promise<{ perS: number; batches: number }> {
  const prefix = uniqueName('bench');
  await fill(redis, stopJobsStreams(prefix).jobs, ENTRIES);
  const consumer = createStopJobsConsumer({ redis, prefix, service: noop, consumerName: 'bench' });
  const started = performance.now();
  await consumer.start();
  const deadline = Date.now() + TIME_LIMIT_MS;
  while (consumer.metrics().handled.success < ENTRIES && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const elapsed = performance.now() - started;
  const metrics = consumer.metrics();
  await consumer.close();
  const results = await redis.xlen(stopJobsStreams(prefix).results);
  if (results !== metrics.handled.success)
    throw new Error(`results ${results} != handled ${metrics.handled.success}`);
  return { perS: (metrics.handled.success / elapsed) * 1000, batches: metrics.batches.count };
}

async function seedStyle(redis: Redis): Promise<number> {
  const prefix = uniqueName('seed');
  const { jobs, results } = stopJobsStreams(prefix);
  await fill(redis, jobs, ENTRIES);
  const offsetKey = `${prefix}:offset:stopjobs`;
  let lastId = (await redis.get(offsetKey)) ?? '0-0';
  let handled = 0;
  const started = performance.now();
  const deadline = Date.now() + TIME_LIMIT_MS;
  while (handled < ENTRIES && Date.now() < deadline) {
    const reply = (await redis.xread('COUNT', 1, 'BLOCK', 100, 'STREAMS', jobs, lastId)) as
      | [string, [string, string[]][]][]
      | null;
    for (const [, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        const decoded = decodeStopJob(id, fields);
        if (decoded.ok) {
          const answer = await noop.stop(
            { ...decoded.job, deliveryCount: 1 },
            { signal: AbortSignal.timeout(30_000) },
          );
          await redis.xadd(
            results,
            '*',
            ...encodeStopJobResult({
              run_id: decoded.job.runId,
              outcome: answer.outcome,
              error_code: answer.errorCode,
              error_message: answer.errorMessage,
              final_status: answer.finalStatus,
              source_entry_id: id,
            }),
          );
        }
        await redis.set(offsetKey, id);
        lastId = id;
        handled++;
      }
    }
  }
  return (handled / (performance.now() - started)) * 1000;
}

const server = await startRedis();
const redis = new Redis(server.url);
try {
  const group = await consumerGroup(redis);
  const seed = await seedStyle(redis);
  const ratio = group.perS / seed;
  console.log(
    `stop-jobs bench: ${ENTRIES} entries, no-op stop service, loopback redis-server, 2 cores`,
  );
  console.log(
    `  consumer group (COUNT 128, one MULTI per batch): ${Math.round(group.perS)} entries/s in ${group.batches} batches`,
  );
  console.log(`  seed style (XREAD COUNT 1, XADD + SET per entry):  ${Math.round(seed)} entries/s`);
  console.log(`  ratio: ${ratio.toFixed(1)}x`);
  console.log(
    JSON.stringify({
      bench: 'stop-jobs',
      entries: ENTRIES,
      per_s: Math.round(group.perS),
      seed_style_per_s: Math.round(seed),
      ratio: Number(ratio.toFixed(2)),
    }),
  );
} finally {
  redis.disconnect();
  await server.close();
}
