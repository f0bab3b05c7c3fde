import { canonicalUuid } from '@x/kernel';
import { defineChannel } from '@x/pubsub-core';
import { z } from 'zod';

/** Longest abort reason carried on the wire; longer reasons are truncated by the aborter. */
export const MAX_REASON_LENGTH = 500;

/** A run id as the channel accepts it (RFC 9562 UUID); `RunAborter.abort` checks ids against the same schema. */
export const runIdSchema = z.uuid();

/**
 * `{prefix}:run-abort`: one channel for every run (the payload names the run), so a
 * worker holds one subscription however many runs it executes. Version 1 of the envelope.
 */
export const runAbortChannel = defineChannel({
  name: 'run-abort',
  version: 1,
  schema: z.object({
    // Lower case on the wire and on receipt (from an older publisher too): shards are
    // registered under the canonical id, so an upper-case one would cancel nothing.
    runId: runIdSchema.transform((id) => canonicalUuid(id) ?? id),
    reason: z.string().max(MAX_REASON_LENGTH),
  }),
  // A UUID plus 500 characters fits even if every character is JSON-escaped to 6 bytes.
  maxBytes: 4096,
});

/** The payload of one abort message. */
export interface RunAbortMessage {
  runId: string;
  reason: string;
}
