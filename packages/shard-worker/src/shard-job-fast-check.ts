import { isPlainObject } from '@x/kernel';
import type { ShardJobData } from './test-schemas.js';

const JOB_KEYS = new Set([
  'runId',
  'workspaceId',
  'shardIndex',
  'shardCount',
  'executor',
  'callbackUrl',
  'tests',
  'trace',
]);
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * A hand check of a shard job's payload, tried before `shardJobDataSchema` on the paths every
 * job takes: a worker's parse of each delivery and the enqueuer's rebuild from PostgreSQL. In
 * `bench:system`'s profiles the schema cost a worker ~0.2 s over ~1,200 runs of 25-test
 * shards. It answers true only for a payload the schema accepts and returns unchanged (strict
 * objects, no transforms, no defaults); false means "not sure": the schema decides, and every
 * refusal and its message are the schema's. Stricter than the schema is allowed, looser never
 * (test/shard-job-fast-check.test.ts holds the two against each field missing or odd).
 */
export function shardJobPassesFast(value: unknown): value is ShardJobData {
  if (!isPlainObject(value)) return false;
  const v = value as Record<string, unknown>;
  for (const key in v) if (!JOB_KEYS.has(key)) return false;
  return (
    isText(v.runId, 1, 100) &&
    isText(v.workspaceId, 1, 200) &&
    Number.isSafeInteger(v.shardIndex) &&
    (v.shardIndex as number) >= 0 &&
    Number.isSafeInteger(v.shardCount) &&
    (v.shardCount as number) >= 1 &&
    isText(v.executor, 1, 100) &&
    (v.callbackUrl === null || isText(v.callbackUrl, 0, 2048)) &&
    Array.isArray(v.tests) &&
    v.tests.every(isJobTest) &&
    (!('trace' in v) || isTrace(v.trace))
  );
}

function isJobTest(t: unknown): boolean {
  if (!isPlainObject(t)) return false;
  const o = t as Record<string, unknown>;
  let keys = 0;
  for (const _ in o) keys++;
  return keys === 2 && isText(o.testId, 1, Infinity) && o.test !== undefined;
}

function isTrace(t: unknown): boolean {
  if (!isPlainObject(t)) return false;
  const o = t as Record<string, unknown>;
  for (const key in o) if (key !== 'traceparent' && key !== 'tracestate') return false;
  return (
    typeof o.traceparent === 'string' &&
    TRACEPARENT.test(o.traceparent) &&
    (!('tracestate' in o) || isText(o.tracestate, 0, 512))
  );
}

const isText = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'string' && v.length >= min && v.length <= max;
