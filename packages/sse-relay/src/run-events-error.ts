import { XError } from '@x/kernel';

export const RUN_EVENTS_ERROR_CODES = [
  'invalid_run_id',
  'invalid_event',
  'closed',
  'log_unavailable',
  'invalid_option',
] as const;
export type RunEventsErrorCode = (typeof RUN_EVENTS_ERROR_CODES)[number];

/** Thrown by `RunEvents.emit` / `listen` with a code naming the problem. */
export class RunEventsError extends XError.named('RunEventsError')<RunEventsErrorCode> {}
