import type { ResultStatus, RunStatus } from '@x/protocol';

/**
 * A run as the API answers it (`GET /api/v1/runs/:id`). `test/wire-types.check.ts` makes the
 * typecheck fail if this and the api's own `RunDto` drift apart.
 */
export interface Run {
  id: string;
  status: RunStatus;
  executor: string;
  name: string | null;
  shardCount: number;
  shardsCompleted: number;
  total: number;
  passed: number;
  failed: number;
  /** ISO 8601. */
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
}

/** One test's result (`GET /api/v1/runs/:id/results`). */
export interface Result {
  shardIndex: number;
  testId: string;
  name: string;
  status: ResultStatus;
  durationMs: number;
  error: string | null;
  /** 1-based attempt that produced it; 0 for a test that never ran (skipped after a failure). */
  attempt: number;
}

/** A `demo` test: sleeps `durationMs`, then reports `outcome`, failing its first `failAttempts` tries. */
export interface DemoTest {
  name: string;
  durationMs: number;
  outcome?: 'pass' | 'fail';
  failAttempts?: number;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** An `http` test: one request, passing when it answers `expectStatus` within `timeoutMs`. */
export interface HttpTest {
  name: string;
  url: string;
  method?: HttpMethod;
  expectStatus?: number;
  timeoutMs?: number;
}

interface CreateRunCommon {
  /** Shards to split the tests into. Default min(4, tests), at most 64 and at most the tests. */
  shards?: number;
  name?: string;
  /** POSTed the run's final state once it finishes. */
  callbackUrl?: string;
}

/** The body of `POST /api/v1/runs`: the executor decides the shape of each test. */
export type CreateRunBody =
  | (CreateRunCommon & { executor: 'demo'; tests: DemoTest[] })
  | (CreateRunCommon & { executor: 'http'; tests: HttpTest[] });
