import { invalid, isUuid } from './validate.js';

// Cursors are opaque to clients: base64url of a small JSON array. They are decoded with
// the same care as any other input, because they come back from the outside: every value is
// checked against what the database column can hold, so a tampered cursor is a 400 naming
// `cursor`, never a driver error (an invalid Date throws RangeError while the query is
// built) or a database range error.

/** The latest instant a run cursor may name: 9999-12-31T23:59:59.999Z, inside every column's range. */
const MAX_TIME_MS = 253_402_300_799_999;
const INT4_MAX = 2_147_483_647;
const INT8_MAX = 9_223_372_036_854_775_807n;

export function encodeRunCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify(['r', createdAt.getTime(), id])).toString('base64url');
}

export function decodeRunCursor(cursor: string): { createdAt: Date; id: string } {
  const v = decode(cursor);
  const [kind, ms, id] = v;
  if (
    v.length !== 3 ||
    kind !== 'r' ||
    !Number.isSafeInteger(ms) ||
    (ms as number) < 0 ||
    (ms as number) > MAX_TIME_MS ||
    !isUuid(id)
  ) {
    throw invalid('cursor', 'is not a run list cursor');
  }
  return { createdAt: new Date(ms as number), id };
}

export function encodeResultCursor(shardIndex: number, seq: string): string {
  return Buffer.from(JSON.stringify(['s', shardIndex, seq])).toString('base64url');
}

export function decodeResultCursor(cursor: string): { shardIndex: number; seq: string } {
  const v = decode(cursor);
  const [kind, shardIndex, seq] = v;
  if (
    v.length !== 3 ||
    kind !== 's' ||
    !Number.isInteger(shardIndex) ||
    (shardIndex as number) < 0 ||
    (shardIndex as number) > INT4_MAX ||
    typeof seq !== 'string' ||
    !/^\d{1,19}$/.test(seq) ||
    BigInt(seq) > INT8_MAX
  ) {
    throw invalid('cursor', 'is not a results cursor');
  }
  return { shardIndex: shardIndex as number, seq };
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
