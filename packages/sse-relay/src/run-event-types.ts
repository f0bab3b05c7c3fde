import { z } from 'zod';

/** Every frame type a client can see; `snapshot` is produced by the router, never emitted. */
export const RUN_EVENT_TYPES = [
  'snapshot',
  'status',
  'shard',
  'result',
  'progress',
  'log',
  'done',
] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];
/** The types `RunEvents.emit` accepts. */
export const EMITTED_EVENT_TYPES = [
  'status',
  'shard',
  'result',
  'progress',
  'log',
  'done',
] as const satisfies readonly RunEventType[];
export type EmittedEventType = (typeof EMITTED_EVENT_TYPES)[number];

const RUN_STATUSES = ['queued', 'running', 'completed', 'failed', 'aborted'] as const;
const SHARD_STATES = ['started', 'completed', 'retrying', 'failed'] as const;
const RESULT_STATUSES = ['passed', 'failed', 'skipped'] as const;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const count = z.number().int().nonnegative();

// Loose objects: a newer emitter may add fields an older relay passes through untouched.
/** Payload shapes per type (DESIGN.md "Server-Sent Events"); `type` and `runId` are added by the relay. */
export const RUN_EVENT_PAYLOAD_SCHEMAS = {
  status: z.looseObject({ status: z.enum(RUN_STATUSES) }),
  shard: z.looseObject({
    shardIndex: count,
    state: z.enum(SHARD_STATES),
    attempt: count,
  }),
  result: z.looseObject({
    shardIndex: count,
    testId: z.string().min(1),
    name: z.string(),
    status: z.enum(RESULT_STATUSES),
    durationMs: z.number().nonnegative(),
    error: z.string().nullable().optional(),
  }),
  progress: z.looseObject({
    passed: count,
    failed: count,
    total: count,
    shardsCompleted: count,
    shardCount: count,
  }),
  log: z.looseObject({ level: z.enum(LOG_LEVELS), message: z.string() }),
  done: z.looseObject({
    status: z.enum(RUN_STATUSES),
    passed: count,
    failed: count,
    total: count,
    durationMs: z.number().nonnegative().nullable(),
  }),
} as const satisfies Record<EmittedEventType, z.ZodType>;

export type RunEventPayloads = {
  [K in EmittedEventType]: z.input<(typeof RUN_EVENT_PAYLOAD_SCHEMAS)[K]>;
};

/** Keys the relay writes itself; a payload carrying them is refused. */
export const RESERVED_PAYLOAD_KEYS = ['type', 'runId'] as const;

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
