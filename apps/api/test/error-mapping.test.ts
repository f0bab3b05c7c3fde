import { RunStoreError } from '@x/run-store';
import { CoordinatorError } from '@x/shard-worker';
import { RunEventsError } from '@x/sse-relay';
import { describe, expect, it } from 'vitest';
import { toApiError } from '../src/http/error-handler.js';

// What each package's errors become at the HTTP edge. The end-to-end suites reach most of
// these for real; a Redis outage at the moment a stream opens is hard to time, so the
// mapping itself is checked here.
describe('toApiError', () => {
  it('answers 503, not a 500, when the event log is unreachable or closing', () => {
    for (const code of ['log_unavailable', 'closed'] as const) {
      const e = toApiError(new RunEventsError(code, 'could not subscribe to run x'));
      expect(e.status).toBe(503);
      expect(e.code).toBe('service_unavailable');
    }
    // A programming error in the relay stays a 500 (and is counted as a bug).
    expect(toApiError(new RunEventsError('invalid_event', 'bad payload')).status).toBe(500);
  });

  it('gives every 400 from a package the {issues: [{field, message}]} details', () => {
    const store = toApiError(
      new RunStoreError('invalid_input', 'cursor is malformed', { details: { field: 'cursor' } }),
    );
    expect(store.toJSON().error).toEqual({
      code: 'invalid_input',
      message: 'cursor is malformed',
      details: { issues: [{ field: 'cursor', message: 'cursor is malformed' }] },
    });
    const coordinator = toApiError(
      new CoordinatorError('invalid_input', 'shards must be an integer in 1..64', {
        field: 'shards',
      }),
    );
    expect(coordinator.status).toBe(400);
    expect(coordinator.details).toEqual({
      issues: [{ field: 'shards', message: 'shards must be an integer in 1..64' }],
    });
  });
});
