import type { StopReason } from '@x/stop-jobs';

/**
 * The run's `error` after an abort, worded for the person reading it (the dashboard shows it):
 * `aborted by ws-a`, not a reason code.
 */
export function stopMessage(reason: StopReason, requestedBy: string | null): string {
  const by = requestedBy ? ` by ${requestedBy}` : '';
  switch (reason) {
    case 'user_request':
      return `aborted${by || ' on request'}`;
    case 'admin_request':
      return `aborted by an administrator${requestedBy ? ` (${requestedBy})` : ''}`;
    case 'timeout':
      return 'aborted: the run went over its time limit';
    case 'shutdown':
      return 'aborted: the system was shutting down';
  }
}
