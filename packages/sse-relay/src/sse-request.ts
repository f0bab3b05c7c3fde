import { canonicalUuid } from '@x/kernel';
import type { Request } from 'express';

const SEQ = /^\d{1,15}$/;

export type ParsedEventsRequest =
  | { ok: true; runId: string; lastEventId: number | null }
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
  if (typeof raw !== 'string' || !SEQ.test(raw.trim())) {
    return { ok: false, field, message: `${field} must be a non-negative integer event id` };
  }
  return { ok: true, runId, lastEventId: Number(raw.trim()) };
}
