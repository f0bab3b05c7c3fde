import type { EmittedEventType } from '@x/protocol';

// The event types and their payload schemas are the wire contract: defined once, in @x/protocol.
export {
  EMITTED_EVENT_TYPES,
  type EmittedEventType,
  RESERVED_PAYLOAD_KEYS,
  RUN_EVENT_PAYLOAD_SCHEMAS,
  RUN_EVENT_TYPES,
  type RunEventPayloads,
  type RunEventType,
} from '@x/protocol';

/** A run id: the characters a pub/sub channel parameter allows. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** One sequenced event of a run, as listeners receive it. */
export interface RunEvent {
  /** The run's sequence number: 1, 2, 3, … with no gaps, the same for every listener. */
  readonly seq: number;
  readonly type: EmittedEventType;
  readonly runId: string;
  /** The payload fields (without `type` / `runId`). */
  readonly data: Readonly<Record<string, unknown>>;
  /** The SSE `data:` JSON: `{type, runId, ...data}`, serialised once per process. */
  readonly json: string;
}

/** The JSON a client sees for an event: `type` and `runId` first, then the payload fields. */
export function eventJson(type: EmittedEventType, runId: string, data: object): string {
  return JSON.stringify({ type, runId, ...data });
}

/** Builds a RunEvent, computing its client JSON. */
export function makeRunEvent(
  seq: number,
  type: EmittedEventType,
  runId: string,
  data: Record<string, unknown>,
): RunEvent {
  return { seq, type, runId, data, json: eventJson(type, runId, data) };
}
