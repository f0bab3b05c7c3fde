import type { EmittedRunEvent } from '@x/protocol';
import type { Run } from './run-types.js';

/** The first frame of every connection: the run as stored when the stream (re)opened. */
export interface SnapshotEvent {
  type: 'snapshot';
  runId: string;
  run: Run;
  /**
   * `false`: the server could not replay every event after the resume point (its history
   * expired, or an api restart lost it). Events were missed; reload what you built from them
   * (`runs.results(id)`) and carry on from this snapshot. `true` or absent: nothing was missed.
   */
  recovered?: boolean;
}

/**
 * An emitted event as `watch` yields it: the server's own union (`@x/protocol`'s
 * `EmittedRunEvent`) plus its SSE `id`, the opaque resume point. A `done` may lack an id: the
 * server builds it from the run's row when the event history is gone.
 */
export type IdentifiedRunEvent<E extends EmittedRunEvent = EmittedRunEvent> = E extends {
  type: 'done';
}
  ? E & { id?: string }
  : E & { id: string };

/** Everything `runs.watch` yields, keyed on `type`: narrowing on `type` gives the payload. */
export type RunEvent = SnapshotEvent | IdentifiedRunEvent;
