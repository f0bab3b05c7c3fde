import { defineChannel } from '@x/pubsub-core';
import { z } from 'zod';
import { acceptRunEventBatch } from './accept-run-event-batch.js';
import { EPOCH_PATTERN } from './epoch-id.js';
import { EMITTED_EVENT_TYPES, RUN_EVENT_PAYLOAD_SCHEMAS } from './run-event-types.js';

/**
 * One sequenced event on the wire: its seq, its epoch and the client JSON object
 * (`{type, runId, ...data}`), the payload fields checked against the type's schema.
 */
export const wireRunEventSchema = z
  .object({
    seq: z.number().int().positive(),
    epoch: z.string().regex(EPOCH_PATTERN),
    event: z.looseObject({ type: z.enum(EMITTED_EVENT_TYPES), runId: z.string().min(1) }),
  })
  .superRefine(({ event }, ctx) => {
    const { type, runId: _runId, ...data } = event;
    const parsed = RUN_EVENT_PAYLOAD_SCHEMAS[type].safeParse(data);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `data of a ${type} event: ${parsed.error.message}` });
    }
  });
export type WireRunEvent = z.infer<typeof wireRunEventSchema>;

/**
 * What travels on `<prefix>:run:{<runId>}:events` (the run id in braces: a hash tag): one message per emitted batch, the batch's
 * events in seq order. Written by the log's append script itself (`redisEventLog`) or by
 * the bus (memory log, `publish: false`); validated once by the receiving bus. A malformed
 * message is dropped (and counted) by the bus, then recovered from the history like any gap.
 */
export const wireRunEventBatchSchema = z.array(wireRunEventSchema).min(1);
export type WireRunEventBatch = z.infer<typeof wireRunEventBatchSchema>;

/**
 * The channel contract. Version 3: each item carries its epoch (v2 had none, v1 carried one
 * event); an older message is dropped by the receiving bus, counted as `version`, and read
 * from the history like any gap. The run id is the channel's hash tag (`x:run:{<runId>}:events`),
 * the tag of the run's event-log keys, so on a Redis Cluster the append script, which writes
 * those keys, may `SPUBLISH` on it (a script's keys and channel must share a slot).
 */
export const runEventsChannel = defineChannel({
  name: 'run:{runId}:events',
  hashTag: 'runId',
  version: 3,
  schema: wireRunEventBatchSchema,
  // The common, well-formed batch without zod (every relay checks every batch on its events'
  // latency path); the schema decides anything else.
  accept: acceptRunEventBatch,
  // A log line or a result with a long error message stays well under this.
  maxBytes: 256 * 1024,
});
