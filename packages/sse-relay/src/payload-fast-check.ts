import { isPlainObject } from '@x/kernel';
import {
  type EmittedEventType,
  FEED_CHANGES,
  LOG_LEVELS,
  RESULT_STATUSES,
  RUN_STATUSES,
  SHARD_STATES,
} from '@x/protocol';

/**
 * Hand-written checks for the payloads of the event types, tried before the type's zod
 * schema (`RUN_EVENT_PAYLOAD_SCHEMAS`) on the paths of every event: the emitter's
 * `prepareEvents`, each receiving process's channel check (`run` frames excepted: see
 * accept-run-event-batch.ts) and a history read (`parseStoredEvent`). Measured at 1,000
 * events/s (bench/append-floor.ts, scratch timings), zod cost ~20 µs per event in the emitter
 * and ~40 µs per batch in the relay, cold, against ~1-2 µs for these.
 *
 * A check answers true only for data its schema accepts; false means "not sure": the schema
 * decides, and every refusal (with its message) still comes from the schema. Being stricter
 * than the schema is allowed (a plain object only, safe integers only), being looser never:
 * test/payload-fast-check.test.ts holds each check against its schema. The payload schemas
 * are loose objects without transforms or defaults, so data that passes is their output
 * as is.
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
    case 'run':
      return oneOf(FEED_CHANGES, d.change) && isFeedRun(d.run);
    default:
      return false;
  }
}

/** A lowercase UUID of versions 1-8: stricter than `z.uuid()` (no uppercase, nil or max). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The workspace feed's run: its id, its tags, and a status when the change has one. */
function isFeedRun(run: unknown): boolean {
  if (!isPlainObject(run)) return false;
  const r = run as Record<string, unknown>;
  return (
    typeof r.id === 'string' &&
    UUID.test(r.id) &&
    Array.isArray(r.tags) &&
    r.tags.every((t) => typeof t === 'string') &&
    (r.status === undefined || oneOf(RUN_STATUSES, r.status))
  );
}

/** `z.number().int().nonnegative()`, narrowed to safe integers. */
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
/** `z.number().nonnegative()`: finite. */
const isNonNegative = (v: unknown): boolean => Number.isFinite(v) && (v as number) >= 0;
const oneOf = (values: readonly string[], v: unknown): boolean =>
  typeof v === 'string' && values.includes(v);
