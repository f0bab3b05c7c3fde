import type { MetricsFn } from '@x/app-kit';
import type { RunEvents, WorkspaceFeed } from '@x/sse-relay';
import type { ApiServices } from '../http/api-services.js';
import type { WorkspaceLimits } from '../http/workspace-limits.js';

/** Everything main wires into the HTTP layer, whichever the mode. */
export interface System {
  readonly mode: 'embedded' | 'distributed';
  readonly services: ApiServices;
  readonly events: RunEvents;
  /** The workspace feeds (`GET /events`): their producer; `events` already reports to it. */
  readonly feed: WorkspaceFeed;
  /** Per-workspace request limits: shared through Redis in a fleet, in memory embedded. */
  readonly limits: WorkspaceLimits;
  /** Package counters to expose on /metrics, by component name. */
  readonly metricsSources: readonly (readonly [string, MetricsFn])[];
  /** Stops taking new work (embedded: the in-process worker drains its shards). */
  drain(deadlineMs: number): Promise<void>;
  /** Releases every connection, timer and file handle. */
  close(): Promise<void>;
}
