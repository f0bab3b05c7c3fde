import { canonicalUuid } from '@x/kernel';
import { defineChannel } from '@x/pubsub-core';
import { z } from 'zod';

/** Longest abort reason carried on the wire; longer reasons are truncated by the aborter. */
export const MAX_REASON_LENGTH = 500;

/** A run id as the channel accepts it (RFC 9562 UUID); `RunAborter.abort` checks ids against the same schema. */
export const runIdSchema = z.uuid();

const runAbortSchema = z.object({
  // Lower case on the wire and on receipt (from an older publisher too): shards are
  // registered under the canonical id, so an upper-case one would cancel nothing.
  runId: runIdSchema.transform((id) => canonicalUuid(id) ?? id),
  reason: z.string().max(MAX_REASON_LENGTH),
});

// zod's own `z.uuid()` pattern (RFC 9562: version 1-8, variant 10xx, or the nil/max UUID),
// written out so the hand check below can never accept an id the schema refuses.
const RUN_ID_PATTERN =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;

/**
 * The schema's output for a well-formed abort message, without the schema: every abort is
 * parsed twice on its latency path (publisher, then each subscriber), and zod costs ~30 µs of
 * that path cold against ~9 µs for this. Anything else (`undefined`) goes to the schema,
 * which accepts or refuses it with its own message; the channel's test holds the two equal.
 */
export function acceptRunAbort(payload: unknown): RunAbortMessage | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const { runId, reason } = payload as Record<string, unknown>;
  if (typeof runId !== 'string' || !RUN_ID_PATTERN.test(runId)) return undefined;
  if (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH) return undefined;
  // A new object with just the two fields, as z.object strips unknown keys.
  return { runId: runId.toLowerCase(), reason };
}

/**
 * `{prefix}:run-abort`: one channel for every run (the payload names the run), so a
 * worker holds one subscription however many runs it executes. Version 1 of the envelope.
 */
export const runAbortChannel = defineChannel({
  name: 'run-abort',
  version: 1,
  schema: runAbortSchema,
  accept: acceptRunAbort,
  // A UUID plus 500 characters fits even if every character is JSON-escaped to 6 bytes.
  maxBytes: 4096,
});

/** The payload of one abort message. */
export interface RunAbortMessage {
  runId: string;
  reason: string;
}
