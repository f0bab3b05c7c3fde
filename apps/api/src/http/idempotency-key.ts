import { createHash } from 'node:crypto';
import { idempotencyKeySchema } from '@x/protocol';
import type { Request } from 'express';
import { fieldError } from './validation.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/**
 * The request's `Idempotency-Key`, validated with @x/protocol's schema; undefined when absent.
 * A malformed key (too long, a space, two headers joined by a comma) is a 400 naming the
 * header: ignoring it would silently drop the guarantee the client asked for.
 */
export function idempotencyKeyOf(req: Request): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues[0]?.message ?? 'is malformed';
  throw fieldError(IDEMPOTENCY_HEADER, `${IDEMPOTENCY_HEADER} header ${message}`);
}

/**
 * A fingerprint of a JSON body that ignores key order and whitespace: "the same body" is the
 * same JSON value, however a client's serializer happened to write it.
 */
export function bodyFingerprint(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
