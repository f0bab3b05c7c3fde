/** One stream entry as Redis returns it; `fields` is null once the entry was deleted. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: string[] | null;
}

/**
 * The entries of an XREADGROUP reply for one stream: null (timed out), RESP2 `[[key,
 * entries]]`, or a RESP3 map. Anything else yields no entries (counted by the caller as a
 * bad reply) rather than throwing in the fetch loop.
 */
export function streamEntries(reply: unknown): StreamEntry[] | undefined {
  if (reply == null) return [];
  let entries: unknown;
  if (Array.isArray(reply)) entries = Array.isArray(reply[0]) ? reply[0][1] : reply[1];
  else if (typeof reply === 'object') entries = Object.values(reply as object)[0];
  if (!Array.isArray(entries)) return undefined;
  const out: StreamEntry[] = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') return undefined;
    const fields = entry[1];
    out.push({
      id: entry[0],
      fields: Array.isArray(fields) ? fields.map(String) : null,
    });
  }
  return out;
}

/** The group or the stream is gone (never created, or Redis restarted empty). */
export function isNoGroupError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOGROUP');
}
