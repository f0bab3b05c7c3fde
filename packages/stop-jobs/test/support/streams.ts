import { fieldsToRecord } from '../../src/codec.js';
import {
  decodeStopJobResult,
  type StopJobResultFields,
  type StopJobsRedis,
  type StopJobsStreams,
  stopJobsStreams,
} from '../../src/index.js';

type Redis = StopJobsRedis;

/** The stream names the consumer and requestStop use with this client. */
export function streamsOf(redis: Redis, prefix: string): StopJobsStreams {
  return stopJobsStreams(prefix, { cluster: redis.isCluster });
}

export async function readStream(
  redis: Redis,
  key: string,
): Promise<{ id: string; fields: Record<string, string> }[]> {
  const rows = (await redis.xrange(key, '-', '+')) as [string, string[]][];
  return rows.map(([id, fields]) => {
    const record = fieldsToRecord(fields);
    if (!record.ok) throw new Error(record.detail);
    return { id, fields: record.record };
  });
}

/** Every result entry, validated against the contract (a malformed one fails the test). */
export async function readResults(redis: Redis, prefix: string): Promise<StopJobResultFields[]> {
  const rows = (await redis.xrange(streamsOf(redis, prefix).results, '-', '+')) as [
    string,
    string[],
  ][];
  return rows.map(([, fields]) => {
    const decoded = decodeStopJobResult(fields);
    if (!decoded.ok) throw new Error(`result outside the contract: ${decoded.detail}`);
    return decoded.result;
  });
}

export async function pendingCount(
  redis: Redis,
  prefix: string,
  group = 'stop-jobs',
): Promise<number> {
  const summary = (await redis.call('XPENDING', streamsOf(redis, prefix).jobs, group)) as [
    number,
    ...unknown[],
  ];
  return Number(summary[0]);
}

export async function resultsLength(redis: Redis, prefix: string): Promise<number> {
  return redis.xlen(streamsOf(redis, prefix).results);
}
