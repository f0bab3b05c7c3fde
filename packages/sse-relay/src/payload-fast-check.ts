import {
  type EmittedEventType,
  LOG_LEVELS,
  RESULT_STATUSES,
  RUN_STATUSES,
  SHARD_STATES,
} from '@x/protocol';

/**
 * Hand-written checks for the payloads of the frequent event types, tried before the type's
 * zod schema (`RUN_EVENT_PAYLOAD_SCHEMAS`) on the two latency paths of every event: the
 * emitter's `prepareEvents` and each receiving process's channel check. Measured at 1,000
 * events/s (bench/append-floor.ts, scratch timings), zod cost ~20 µs per event in the emitter
 * and ~40 µs per batch in the relay, cold, against ~1-2 µs for these.
 *
 * A check answers true only for data its schema accepts; false means "not sure": the schema
 * decides, and every refusal (with its message) still comes from the schema. Being stricter
 * than the schema is allowed (a plain object only, safe integers only), being looser never:
 * test/payload-fast-check.test.ts holds each check against its schema. The payload schemas
 * are loose objects without transforms or defaults, so data that passes is their output
 * as is. `run` (the workspace feed, one frame per run change) has no check: the schema.
 */
export function payloadPassesFast(type: EmittedEventType, data: object): boolean {
  if (!isPlainObject(data)) return false;
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'log':
      return oneOf(LOG_LEVELS, d.level) && typeof d.message === 'string';
    case 'progress':
      return (
        isCount(d.passed) &&
        isCount(d.failed) &&
        isCount(d.total) &&
        isCount(d.shardsCompleted) &&
        isCount(d.shardCount)
      );
    case 'result':
      return (
        isCount(d.shardIndex) &&
        typeof d.testId === 'string' &&
        d.testId.length > 0 &&
        typeof d.name === 'string' &&
        oneOf(RESULT_STATUSES, d.status) &&
        isNonNegative(d.durationMs) &&
        (d.error === undefined || d.error === null || typeof d.error === 'string') &&
        (d.attempt === undefined || isCount(d.attempt))
      );
    case 'shard':
      return isCount(d.shardIndex) && oneOf(SHARD_STATES, d.state) && isCount(d.attempt);
    case 'status':
      return oneOf(RUN_STATUSES, d.status);
    case 'done':
      return (
        oneOf(RUN_STATUSES, d.status) &&
        isCount(d.passed) &&
        isCount(d.failed) &&
        isCount(d.total) &&
        (d.durationMs === null || isNonNegative(d.durationMs))
      );
    default:
      return false;
  }
}

/** An object literal or `JSON.parse` output: no class instance, no inherited fields. */
export function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `z.number().int().nonnegative()`, narrowed to safe integers. */
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
/** `z.number().nonnegative()`: finite. */
const isNonNegative = (v: unknown): boolean => Number.isFinite(v) && (v as number) >= 0;
const oneOf = (values: readonly string[], v: unknown): boolean =>
  typeof v === 'string' && values.includes(v);
