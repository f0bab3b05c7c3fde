import { defineChannel } from '@x/pubsub-core';
import { z } from 'zod';
import { EMITTED_EVENT_TYPES, RUN_EVENT_PAYLOAD_SCHEMAS } from './run-event-types.js';

/**
 * What travels on `{prefix}:run:{runId}:events`: the sequenced event. The payload shape is
 * checked per type so a malformed publish is dropped (and counted) by the bus, then
 * recovered from the history like any other gap.
 */
export const wireRunEventSchema = z
  .object({
    seq: z.number().int().positive(),
    type: z.enum(EMITTED_EVENT_TYPES),
    runId: z.string().min(1),
    data: z.record(z.string(), z.unknown()),
  })
  .superRefine((event, ctx) => {
    const parsed = RUN_EVENT_PAYLOAD_SCHEMAS[event.type].safeParse(event.data);
    if (!parsed.success) {
      ctx.addIssue({
        code: 'custom',
        message: `data of a ${event.type} event: ${parsed.error.message}`,
      });
    }
  });
export type WireRunEvent = z.infer<typeof wireRunEventSchema>;

/** The channel contract; version 1 of the sequenced event envelope. */
export const runEventsChannel = defineChannel({
  name: 'run:{runId}:events',
  version: 1,
  schema: wireRunEventSchema,
  // A log line or a result with a long error message stays well under this.
  maxBytes: 256 * 1024,
});
