import { canonicalUuid } from '@x/kernel';
import { payloadPassesFast } from './payload-fast-check.js';
import {
  EMITTED_EVENT_TYPES,
  type EmittedEventType,
  RESERVED_PAYLOAD_KEYS,
  RUN_EVENT_PAYLOAD_SCHEMAS,
  RUN_ID_PATTERN,
} from './run-event-types.js';
import type { NewRunEvent } from './run-events-api.js';
import type { WireRunEvent } from './run-events-channel.js';
import { RunEventsError } from './run-events-error.js';

const TYPES: readonly string[] = EMITTED_EVENT_TYPES;

/**
 * The one spelling of a run id for channels and history keys: a UUID in lower case (however
 * the caller wrote it: producers and the store write lower case), any other id as given.
 * Throws `invalid_run_id` unless `runId` is a run id.
 */
export function canonicalRunId(runId: unknown): string {
  const uuid = canonicalUuid(runId);
  if (uuid !== undefined) return uuid;
  if (typeof runId !== 'string' || !RUN_ID_PATTERN.test(runId)) {
    throw new RunEventsError(
      'invalid_run_id',
      `runId must match ${RUN_ID_PATTERN}, got ${JSON.stringify(runId)}`,
    );
  }
  return runId;
}

/** An event ready to append: the client object (also the wire item's `event`) and its JSON. */
export interface PreparedEvent {
  readonly type: EmittedEventType;
  readonly event: WireRunEvent['event'];
  readonly json: string;
}

/**
 * Validates a batch to emit and encodes each event's JSON once (the history, the wire and
 * every SSE frame reuse it). Every event is checked before anything is written: a bad one
 * refuses the whole batch with `invalid_event` naming the problem. `runId` is canonical.
 */
export function prepareEvents(runId: string, events: readonly NewRunEvent[]): PreparedEvent[] {
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
    // The hand check first (payload-fast-check.ts: ~20 µs of zod per emit, cold); the schema
    // decides whatever it is not sure of, and every refusal and its message are the schema's.
    if (!payloadPassesFast(type, data)) {
      const parsed = RUN_EVENT_PAYLOAD_SCHEMAS[type].safeParse(data);
      if (!parsed.success) {
        throw new RunEventsError('invalid_event', `${type} payload: ${parsed.error.message}`);
      }
    }
    // `type` and `runId` first: the JSON a client sees, byte for byte what the history keeps.
    const event = { type, runId, ...data };
    return { type, event, json: JSON.stringify(event) };
  });
}
