import { XError } from '@x/kernel';
import type { RunStatus } from '@x/protocol';

export const RUN_ABORTED_CODES = ['run_aborted', 'run_finished', 'run_not_found'] as const;
/**
 * - `run_aborted`: the run was aborted (in the store, or an abort reached this process).
 * - `run_finished`: the run already completed or failed; there is nothing left to start.
 * - `run_not_found`: the store has no such run.
 */
export type RunAbortedCode = (typeof RUN_ABORTED_CODES)[number];

/**
 * Why a shard was cancelled (or, for a caller's own start check, must not run): this is the
 * `reason` of every AbortController signal the registry fires, so executors can tell an
 * abort from their own failures with `signal.reason instanceof RunAbortedError`.
 */
export class RunAbortedError extends XError<RunAbortedCode> {
  override readonly name = 'RunAbortedError';
  readonly runId: string;
  /** The run's status when known (`undefined` for `run_not_found`). */
  readonly status: RunStatus | undefined;

  constructor(
    code: RunAbortedCode,
    runId: string,
    message: string,
    opts: { status?: RunStatus; cause?: unknown } = {},
  ) {
    super(code, message, { cause: opts.cause, details: { runId } });
    this.runId = runId;
    this.status = opts.status;
  }
}
