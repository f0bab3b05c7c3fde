import { invalid, isUuid } from './validate.js';

// Cursors are opaque to clients: base64url of a small JSON array. They are decoded with
// the same care as any other input, because they come back from the outside.

export function encodeRunCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify(['r', createdAt.getTime(), id])).toString('base64url');
}

export function decodeRunCursor(cursor: string): { createdAt: Date; id: string } {
  const v = decode(cursor);
  if (v[0] !== 'r' || typeof v[1] !== 'number' || !Number.isFinite(v[1]) || !isUuid(v[2])) {
    throw invalid('cursor', 'is not a run list cursor');
  }
  return { createdAt: new Date(v[1]), id: v[2] };
}

export function encodeResultCursor(shardIndex: number, seq: string): string {
  return Buffer.from(JSON.stringify(['s', shardIndex, seq])).toString('base64url');
}

export function decodeResultCursor(cursor: string): { shardIndex: number; seq: string } {
  const v = decode(cursor);
  if (
    v[0] !== 's' ||
    !Number.isInteger(v[1]) ||
    typeof v[2] !== 'string' ||
    !/^\d{1,19}$/.test(v[2])
  ) {
    throw invalid('cursor', 'is not a results cursor');
  }
  return { shardIndex: v[1] as number, seq: v[2] };
}

function decode(cursor: unknown): unknown[] {
  if (
    typeof cursor !== 'string' ||
    cursor.length === 0 ||
    cursor.length > 200 ||
    !/^[A-Za-z0-9_-]+$/.test(cursor)
  ) {
    throw invalid('cursor', 'is malformed');
  }
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value)) return value;
  } catch {
    // fall through: any parse failure is the same client mistake
  }
  throw invalid('cursor', 'is malformed');
}
