import { isPlainObject } from '@x/kernel';
import { EPOCH_PATTERN } from './epoch-id.js';
import { payloadPassesFast } from './payload-fast-check.js';
import { EMITTED_EVENT_TYPES, type EmittedEventType } from './run-event-types.js';
import type { WireRunEvent } from './run-events-channel.js';

const TYPES: readonly string[] = EMITTED_EVENT_TYPES;

/**
 * The run events channel's `accept` (pubsub-core `defineChannel`): the schema's output for a
 * well-formed batch, without zod. Every receiving process checks every batch on the latency
 * path of each event it serves; the batch schema (an array of objects, a regex, a loose
 * object and a per-type payload parse in a refinement) cost ~40 µs per single-event batch,
 * cold, at 1,000 events/s, against a few µs for this. Anything it is not sure of
 * (`undefined`: a type without a hand check, a key order the schema would change, any doubt)
 * goes to the schema, which accepts or refuses it with its own message;
 * test/accept-run-event-batch.test.ts holds the two equal.
 */
export function acceptRunEventBatch(payload: unknown): WireRunEvent[] | undefined {
  if (!Array.isArray(payload) || payload.length === 0) return undefined;
  const out: WireRunEvent[] = [];
  for (const item of payload) {
    if (!isPlainObject(item)) return undefined;
    const { seq, epoch, event } = item as Record<string, unknown>;
    if (!Number.isSafeInteger(seq) || (seq as number) <= 0) return undefined;
    if (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch)) return undefined;
    if (!isPlainObject(event)) return undefined;
    const e = event as Record<string, unknown>;
    if (typeof e.type !== 'string' || !TYPES.includes(e.type)) return undefined;
    if (typeof e.runId !== 'string' || e.runId.length === 0) return undefined;
    // The schema's output lists `type`, `runId` first; relays re-serialise the event for SSE,
    // so an event written in another order is left to the schema (it reorders).
    if (!startsWithTypeAndRunId(e)) return undefined;
    // An own `__proto__` key (JSON.parse makes one) would become the prototype in the
    // schema's copy, and vanish from the JSON: the schema's output differs, so it decides.
    if (Object.hasOwn(e, '__proto__')) return undefined;
    // The payload fields are checked on the event itself: no payload schema has a field
    // named `type` or `runId` (RESERVED_PAYLOAD_KEYS), and each is a loose object.
    // A feed frame's run is a loose object too: the schema's output lists its declared
    // fields (id, tags, status) before the others, and a `created` frame's run is in the
    // DTO's order. Left to the schema, which reorders it.
    if (e.type === 'run' || !payloadPassesFast(e.type as EmittedEventType, e)) return undefined;
    // A new item of the three fields, as z.object strips unknown keys; the event as is (a
    // loose object keeps every key, and nothing in it is transformed).
    out.push({ seq: seq as number, epoch, event: e as WireRunEvent['event'] });
  }
  return out;
}

function startsWithTypeAndRunId(e: object): boolean {
  let i = 0;
  for (const key in e) {
    if (i === 0 && key !== 'type') return false;
    if (i === 1) return key === 'runId';
    i++;
  }
  return false;
}
