import { StopJobsError } from './stop-jobs-error.js';
/** One stream entry as Redis returns it; `fields` is null once the entry was deleted. */
export interface RawEntry {
  id: string;
  fields: string[] | null;
}

/**
 * Parses an XREADGROUP reply for one stream. Accepts every shape ioredis produces:
 * RESP2 / legacy `[[key, entries]]`, a flat RESP3 map `[key, entries]`, or a RESP3 object.
 */
export function parseReadReply(reply: unknown): RawEntry[] {
  if (reply == null) return [];
  if (Array.isArray(reply)) {
    if (reply.length === 0) return [];
    if (Array.isArray(reply[0])) return parseEntries((reply[0] as unknown[])[1]);
    return parseEntries(reply[1]);
  }
  if (typeof reply === 'object') {
    const first = Object.values(reply as Record<string, unknown>)[0];
    return parseEntries(first);
  }
  throw new StopJobsError('unexpected_reply', `unexpected XREADGROUP reply: ${typeof reply}`);
}

/** Parses XAUTOCLAIM: `[nextCursor, entries, deletedIds]` (Redis ≥ 7). */
export function parseAutoclaimReply(reply: unknown): {
  cursor: string;
  entries: RawEntry[];
  deleted: string[];
} {
  if (!Array.isArray(reply) || reply.length < 2) {
    throw new StopJobsError('unexpected_reply', 'unexpected XAUTOCLAIM reply');
  }
  const deleted = Array.isArray(reply[2]) ? (reply[2] as unknown[]).map(String) : [];
  return { cursor: String(reply[0]), entries: parseEntries(reply[1]), deleted };
}

/** Parses `XPENDING key group id id 1` into the delivery count, or null when not pending. */
export function parsePendingCount(reply: unknown): number | null {
  if (!Array.isArray(reply) || reply.length === 0) return null;
  const row = reply[0];
  if (!Array.isArray(row) || row.length < 4) return null;
  return Number(row[3]);
}

function parseEntries(entries: unknown): RawEntry[] {
  if (!Array.isArray(entries)) return [];
  return entries.map((entry) => {
    const [id, fields] = entry as [unknown, unknown];
    return {
      id: String(id),
      fields: Array.isArray(fields) ? asStrings(fields) : null,
    };
  });
}

/** ioredis already hands over strings: keep its array rather than copy one per entry. */
function asStrings(items: unknown[]): string[] {
  for (const item of items) if (typeof item !== 'string') return items.map(String);
  return items as string[];
}

/** The group or the stream is gone (stream deleted, Redis restarted empty). */
export function isNoGroupError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOGROUP');
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
