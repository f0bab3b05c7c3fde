import type { EmittedEventType, RUN_EVENT_PAYLOAD_SCHEMAS } from '@x/protocol';
import type { z } from 'zod';

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

/** The payload fields of each emitted type as listeners read them (validated, without `type`/`runId`). */
export type RunEventData = {
  [K in EmittedEventType]: z.output<(typeof RUN_EVENT_PAYLOAD_SCHEMAS)[K]>;
};

/** One sequenced event of a run of type `K`, as listeners receive it. */
export interface RunEventOf<K extends EmittedEventType> {
  /** The run's sequence number: contiguous within an epoch, the same for every listener. */
  readonly seq: number;
  /** The history's epoch (a rebuilt history has a new one); the SSE id is `<seq>-<epoch>`. */
  readonly epoch: string;
  readonly type: K;
  readonly runId: string;
  /** The payload fields (without `type` / `runId`). */
  readonly data: Readonly<RunEventData[K]>;
  /** The SSE `data:` JSON: `{type, runId, ...data}`, serialised once per process. */
  readonly json: string;
}

/**
 * One sequenced event of a run: a union keyed on `type`, so `event.type === 'progress'`
 * narrows `event.data` to the progress fields.
 */
export type RunEvent = { [K in EmittedEventType]: RunEventOf<K> }[EmittedEventType];

/**
 * Types a decoded event. The one place an event's fields become typed: callers pass only data
 * checked against the type's schema (by the bus for the wire, by `parseStoredEvent` for the
 * history, by `prepareEvents` before an emit).
 */
export function runEventOf(
  seq: number,
  epoch: string,
  type: EmittedEventType,
  runId: string,
  data: Record<string, unknown>,
  json: string,
): RunEvent {
  return { seq, epoch, type, runId, data, json } as RunEvent;
}
