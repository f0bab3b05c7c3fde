export const RUN_EVENTS_ERROR_CODES = [
  'invalid_run_id',
  'invalid_event',
  'closed',
  'log_unavailable',
] as const;
export type RunEventsErrorCode = (typeof RUN_EVENTS_ERROR_CODES)[number];

/** Thrown by `RunEvents.emit` / `listen` with a code naming the problem. */
export class RunEventsError extends Error {
  override readonly name = 'RunEventsError';
  readonly code: RunEventsErrorCode;

  constructor(code: RunEventsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
