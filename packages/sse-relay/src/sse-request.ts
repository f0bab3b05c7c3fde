import { canonicalUuid } from '@x/kernel';
import type { Request } from 'express';
import type { EventPosition } from './compute-replay.js';

/** `<seq>-<epoch>` as this relay writes ids, or a bare `<seq>` (read as the current epoch). */
const EVENT_ID = /^(\d{1,16})(?:-([A-Za-z0-9]{1,16}))?$/;

export type ParsedEventsRequest =
  | { ok: true; runId: string; lastEventId: EventPosition | null }
  | { ok: false; field: string; message: string };

/**
 * Validates `:runId` (a UUID, any case, answered in lower case: the one spelling channels,
 * history keys and the store use) and the resume point: the `Last-Event-ID` header, which an
 * EventSource sends on its own reconnects, wins over `?lastEventId=` (fixed in the URL).
 */
export function parseEventsRequest(req: Request): ParsedEventsRequest {
  const runId = canonicalUuid(req.params.runId);
  if (runId === undefined) {
    return { ok: false, field: 'runId', message: 'runId must be a UUID' };
  }
  const header = req.get('last-event-id');
  const query = req.query.lastEventId;
  let raw: unknown = header !== undefined && header !== '' ? header : query;
  let field = header !== undefined && header !== '' ? 'Last-Event-ID' : 'lastEventId';
  if (raw === undefined || raw === '') return { ok: true, runId, lastEventId: null };
  if (typeof raw !== 'string') {
    field = 'lastEventId';
    raw = undefined;
  }
  const m = typeof raw === 'string' ? EVENT_ID.exec(raw.trim()) : null;
  const seq = m ? Number(m[1]) : Number.NaN;
  if (!m || !Number.isSafeInteger(seq)) {
    return {
      ok: false,
      field,
      message: `${field} must be an event id: <seq>-<epoch> or a non-negative integer`,
    };
  }
  return { ok: true, runId, lastEventId: m[2] ? { seq, epoch: m[2] } : { seq } };
}
