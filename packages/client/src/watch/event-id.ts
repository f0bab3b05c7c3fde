/**
 * SSE ids are opaque resume points: sent back verbatim as `lastEventId`, never rebuilt. Only
 * to drop an event already yielded does the client read them: `<seq>` today, `<seq>-<epoch>`
 * once ids carry an epoch (DESIGN.md "Event ids carry an epoch").
 */
const ID = /^(\d{1,15})(?:-(.+))?$/;

interface ParsedId {
  seq: number;
  epoch: string | undefined;
}

function parse(id: string): ParsedId | undefined {
  const m = ID.exec(id);
  return m ? { seq: Number(m[1]), epoch: m[2] } : undefined;
}

/**
 * Whether an event with `id` comes after `last`, the id of the last event yielded, so it is
 * new. The sequences are compared only within one epoch; an id without one is read as the
 * current epoch, as the server reads it. Another epoch means the server began a new sequence
 * (and sent `recovered: false`), so its events are new. An id the client cannot read is
 * yielded: dropping it could lose an event, and the server sends each id once per connection.
 */
export function isAfter(id: string, last: string | undefined): boolean {
  if (last === undefined) return true;
  const next = parse(id);
  const prev = parse(last);
  if (!next || !prev) return id !== last;
  if (next.epoch !== undefined && prev.epoch !== undefined && next.epoch !== prev.epoch)
    return true;
  return next.seq > prev.seq;
}
