import type { DropReason } from './drop-reasons.js';
import { ORIGIN_PATTERN } from './origin.js';

/** What travels on every pub/sub channel, as JSON. */
export interface Envelope {
  /** The channel contract's version the payload was written for. */
  v: number;
  /** The publishing bus's origin id (`inst_` + 32 hex). */
  origin: string;
  /** Full channel name, prefix included; must equal the channel it arrived on. */
  channel: string;
  /** Publish time, milliseconds since the epoch (publisher's clock). */
  ts: number;
  payload: unknown;
}

export type DecodeResult =
  | { ok: true; envelope: Envelope }
  | { ok: false; reason: DropReason; detail: string };

/** Serialises an envelope for the wire. */
export function encodeEnvelope(e: Envelope): string {
  return envelopeEncoder(e.v, e.origin, e.channel).encode(e.ts, e.payload);
}

/** What follows the payload's JSON in every encoded envelope. */
export const ENVELOPE_TAIL = '}';

/** The wire encoding of one (version, origin, channel), its constant part serialised once. */
export interface EnvelopeEncoder {
  /** The whole message: `head(ts) + JSON.stringify(payload) + ENVELOPE_TAIL`. */
  encode(ts: number, payload: unknown): string;
  /** Everything before the payload's JSON, ending in `"payload":`. */
  head(ts: number): string;
}

/**
 * An encoder for one (version, origin, channel): the constant head is serialised once, so
 * each publish only stringifies its payload (the hot path of `BoundChannel.publish`). `head`
 * is the same bytes `encode` starts with, for a message whose payload is written elsewhere
 * (a Redis script): the wire format has exactly one definition, here.
 */
export function envelopeEncoder(v: number, origin: string, channel: string): EnvelopeEncoder {
  const start = `{"v":${JSON.stringify(v)},"origin":${JSON.stringify(origin)},"channel":${JSON.stringify(channel)},"ts":`;
  return {
    // The closing brace is ENVELOPE_TAIL, written out: this runs for every publish.
    encode: (ts, payload) => `${start}${JSON.stringify(ts)},"payload":${JSON.stringify(payload)}}`,
    head: (ts) => `${start}${JSON.stringify(ts)},"payload":`,
  };
}

/** Size of a wire message in bytes, without converting when the string is clearly small. */
export function wireBytes(raw: string | Buffer, maxBytes: number): number {
  if (typeof raw !== 'string') return raw.length;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short strings need no exact count.
  if (raw.length * 3 <= maxBytes || raw.length > maxBytes) return raw.length;
  return Buffer.byteLength(raw, 'utf8');
}

/**
 * Validates a wire message and returns the envelope, or why it must be dropped. Never throws:
 * malformed JSON, a wrong shape or an oversized message come back as `{ ok: false }`.
 * A hand-written shape check rather than a schema library: this runs for every message.
 */
export function decodeEnvelope(raw: string | Buffer, opts: { maxBytes: number }): DecodeResult {
  const size = wireBytes(raw, opts.maxBytes);
  if (size > opts.maxBytes) {
    return {
      ok: false,
      reason: 'oversize',
      detail: `message of ${size} bytes exceeds ${opts.maxBytes}`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'malformed', detail: `not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'malformed', detail: 'envelope is not a JSON object' };
  }
  const e = value as Record<string, unknown>;
  if (typeof e.v !== 'number' || !Number.isInteger(e.v) || e.v < 1) {
    return { ok: false, reason: 'malformed', detail: 'envelope.v must be a positive integer' };
  }
  if (typeof e.origin !== 'string' || !ORIGIN_PATTERN.test(e.origin)) {
    return {
      ok: false,
      reason: 'malformed',
      detail: 'envelope.origin must be inst_ + 32 hex chars',
    };
  }
  if (typeof e.channel !== 'string' || e.channel.length === 0) {
    return {
      ok: false,
      reason: 'malformed',
      detail: 'envelope.channel must be a non-empty string',
    };
  }
  if (typeof e.ts !== 'number' || !Number.isFinite(e.ts)) {
    return { ok: false, reason: 'malformed', detail: 'envelope.ts must be a finite number' };
  }
  if (e.payload === undefined) {
    return { ok: false, reason: 'malformed', detail: 'envelope.payload is missing' };
  }
  return { ok: true, envelope: value as Envelope };
}
