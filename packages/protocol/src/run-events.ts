import { z } from 'zod';
import { RESULT_STATUSES, RUN_STATUSES } from './run-status.js';

/**
 * The types a producer emits: every frame type but `snapshot`. `run` is the workspace feed's
 * (`GET /events`): one run changed; a run's own stream never carries it.
 */
export const EMITTED_EVENT_TYPES = [
  'status',
  'shard',
  'result',
  'progress',
  'log',
  'done',
  'run',
] as const;
export type EmittedEventType = (typeof EMITTED_EVENT_TYPES)[number];

/**
 * Every frame type a client can see, in the order a stream can carry them; `snapshot` is
 * produced by the SSE router (first frame of a connection), never emitted.
 */
export const RUN_EVENT_TYPES = ['snapshot', ...EMITTED_EVENT_TYPES] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

/** A shard's lifecycle as `shard` events report it. */
export const SHARD_STATES = ['started', 'completed', 'retrying', 'failed'] as const;
export type ShardState = (typeof SHARD_STATES)[number];

/** What a `run` frame of the workspace feed reports. */
export const FEED_CHANGES = ['created', 'status', 'progress', 'done'] as const;
export type FeedChange = (typeof FEED_CHANGES)[number];

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const count = z.number().int().nonnegative();

// Loose objects: a newer emitter may add fields an older relay passes through untouched.
/** Payload shapes per emitted type (DESIGN.md "Server-Sent Events"); `type` and `runId` are added by the relay. */
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
    // The shard attempt that produced it (as its `shard started` carries): a client drops a
    // result older than the shard's latest started attempt. Optional: older emitters omit it.
    attempt: count.optional(),
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
  run: z.looseObject({
    change: z.enum(FEED_CHANGES),
    // The run as far as the change tells: `created` carries the whole run; the others its id,
    // tags and what changed (status, counters).
    run: z.looseObject({
      id: z.uuid(),
      tags: z.array(z.string()),
      status: z.enum(RUN_STATUSES).optional(),
    }),
  }),
} as const satisfies Record<EmittedEventType, z.ZodType>;

/** The payload a producer passes for each emitted type. */
export type RunEventPayloads = {
  [K in EmittedEventType]: z.input<(typeof RUN_EVENT_PAYLOAD_SCHEMAS)[K]>;
};

/** Keys the relay writes itself; a payload carrying them is refused. */
export const RESERVED_PAYLOAD_KEYS = ['type', 'runId'] as const;

/**
 * One emitted event as a client reads it from a frame's `data:`: a union keyed on `type`, so
 * narrowing on `type` gives the payload's fields.
 */
export type EmittedRunEvent = {
  [K in EmittedEventType]: { type: K; runId: string } & z.output<
    (typeof RUN_EVENT_PAYLOAD_SCHEMAS)[K]
  >;
}[EmittedEventType];
