import { abortReason, type Logger, silentLogger } from '@x/kernel';
import { type HttpTest, httpTestSchema } from '@x/protocol';
import type { Executor } from './executor.js';
import { guardedRequest } from './guarded-request.js';
import { checkOutboundUrl, type Resolver } from './outbound-guard.js';
import { OutboundUrlError } from './outbound-url-error.js';
import type { TestResult } from './test-schemas.js';

export interface HttpExecutorOptions {
  /** Hosts (`host` or `host:port`) exempt from the private-address guard. Default none. */
  allowedHosts: readonly string[];
  /** Per-test timeout when the test sets none. Default 10 s. */
  defaultTimeoutMs?: number;
  /** DNS resolver; only tests replace it. Default the system resolver. */
  resolve?: Resolver;
  /** Where a refused URL's detail (the resolved address, the DNS error) goes; never to the results. */
  logger?: Logger;
}

/**
 * The `http` executor: each test is one request (default GET) whose status must equal
 * `expectStatus` (default 200). URLs pass the outbound-address guard first; redirects are
 * reported as their 3xx status, never followed. A refused URL, a timeout or a connection
 * error is a failed test; an abort of the shard throws. A refused URL's result says only
 * `address not allowed` (results and events are read by the caller); the log has the detail.
 */
export function httpExecutor({
  allowedHosts,
  defaultTimeoutMs = 10_000,
  resolve,
  logger = silentLogger,
}: HttpExecutorOptions): Executor<HttpTest> {
  return {
    name: 'http',
    testSchema: httpTestSchema,
    async execute({ run, tests, signal, emit }) {
      const results: TestResult[] = [];
      for (const { testId, test } of tests) {
        if (signal.aborted) throw abortReason(signal);
        const started = performance.now();
        const expected = test.expectStatus ?? 200;
        let error: string | null = null;
        try {
          const checked = await checkOutboundUrl(test.url, allowedHosts, resolve);
          const { status } = await guardedRequest(checked, {
            method: test.method ?? 'GET',
            timeoutMs: test.timeoutMs ?? defaultTimeoutMs,
            signal,
          });
          if (status !== expected) error = `expected status ${expected}, got ${status}`;
        } catch (err) {
          if (signal.aborted) throw abortReason(signal);
          error = err instanceof Error ? err.message : String(err);
          if (err instanceof OutboundUrlError) {
            logger.warn(
              { runId: run.id, testId, code: err.code, detail: err.detail },
              'http test refused by the outbound guard',
            );
          }
        }
        const result: TestResult = {
          testId,
          name: test.name,
          status: error === null ? 'passed' : 'failed',
          durationMs: Math.round(performance.now() - started),
          error,
        };
        results.push(result);
        emit(result);
      }
      return results;
    },
  };
}
