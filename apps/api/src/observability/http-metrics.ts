import { type MetricsFn, registerPackageMetrics } from '@x/app-kit';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface ApiMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  /** 500s: each one is a bug to fix, so it has its own counter to alert on. */
  readonly internalErrors: Counter;
  readonly runsCreated: Counter<'executor'>;
  readonly abortsRequested: Counter<'result'>;
  readonly bulkAborts: Counter;
  readonly bulkAbortedRuns: Counter;
  /** `POST /runs` with an `Idempotency-Key`, by result (created, replayed, key_reused). */
  readonly idempotentCreates: Counter<'result'>;
  readonly authFailures: Counter<'kind'>;
  /** Requests refused by a per-workspace rate limit. */
  readonly rateLimited: Counter<'limit'>;
  /** Adds a package's `metrics()` object as `x_<component>_stat{stat}`. */
  addSource(component: string, read: MetricsFn): void;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'x_http_requests_total',
      help: 'HTTP requests by route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'x_http_request_duration_seconds',
      help: 'HTTP request duration (SSE streams excluded)',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    internalErrors: new Counter({
      name: 'x_http_internal_errors_total',
      help: 'Requests answered 500',
      registers,
    }),
    runsCreated: new Counter({
      name: 'x_runs_created_total',
      help: 'Runs created through this replica',
      labelNames: ['executor'] as const,
      registers,
    }),
    idempotentCreates: new Counter({
      name: 'x_run_idempotent_creates_total',
      help: 'POST /runs with an Idempotency-Key, by result (created, replayed, key_reused)',
      labelNames: ['result'] as const,
      registers,
    }),
    abortsRequested: new Counter({
      name: 'x_run_aborts_total',
      help: 'Abort requests by result (aborted, already_aborted, conflict)',
      labelNames: ['result'] as const,
      registers,
    }),
    bulkAborts: new Counter({
      name: 'x_run_bulk_aborts_total',
      help: 'POST /runs/abort requests that ran (a refused filter is not counted)',
      registers,
    }),
    bulkAbortedRuns: new Counter({
      name: 'x_run_bulk_aborted_runs_total',
      help: 'Runs aborted by POST /runs/abort (each counted by the call that won its write)',
      registers,
    }),
    authFailures: new Counter({
      name: 'x_auth_failures_total',
      help: 'Refused credentials (missing, invalid bearer token, invalid stream token)',
      labelNames: ['kind'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'x_rate_limited_total',
      help: 'Requests answered 429 by a per-workspace rate limit (creates, requests)',
      labelNames: ['limit'] as const,
      registers,
    }),
    addSource: (component, read) => registerPackageMetrics(registry, component, read),
  };
}
