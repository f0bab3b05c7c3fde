import {
  EMITTED_EVENT_TYPES,
  eventJson,
  RESERVED_PAYLOAD_KEYS,
  RUN_EVENT_PAYLOAD_SCHEMAS,
  RUN_ID_PATTERN,
} from './run-event-types.js';
import type { NewRunEvent } from './run-events-api.js';
import { RunEventsError } from './run-events-error.js';

const TYPES: readonly string[] = EMITTED_EVENT_TYPES;

/** Throws `invalid_run_id` unless `runId` is a run id. */
export function assertRunId(runId: unknown): asserts runId is string {
  if (typeof runId !== 'string' || !RUN_ID_PATTERN.test(runId)) {
    throw new RunEventsError(
      'invalid_run_id',
      `runId must match ${RUN_ID_PATTERN}, got ${JSON.stringify(runId)}`,
    );
  }
}

/**
 * Validates a batch to emit and encodes each event's JSON once (the history, the wire and
 * every SSE frame reuse it). Every event is checked before anything is written: a bad one
 * refuses the whole batch with `invalid_event` naming the problem.
 */
export function prepareEvents(runId: string, events: readonly NewRunEvent[]) {
  assertRunId(runId);
  if (!Array.isArray(events as unknown))
    throw new RunEventsError('invalid_event', 'events must be an array');
  return events.map(({ type, payload }: NewRunEvent) => {
    if (!TYPES.includes(type)) {
      throw new RunEventsError(
        'invalid_event',
        `type must be one of ${EMITTED_EVENT_TYPES.join(', ')}, got ${String(type)}`,
      );
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new RunEventsError('invalid_event', `${type} payload must be an object`);
    }
    const data = payload as Record<string, unknown>;
    const reserved = RESERVED_PAYLOAD_KEYS.find((key) => key in data);
    if (reserved)
      throw new RunEventsError('invalid_event', `${type} payload must not set "${reserved}"`);
    const parsed = RUN_EVENT_PAYLOAD_SCHEMAS[type].safeParse(data);
    if (!parsed.success) {
      throw new RunEventsError('invalid_event', `${type} payload: ${parsed.error.message}`);
    }
    return { type, data, json: eventJson(type, runId, data) };
  });
}
