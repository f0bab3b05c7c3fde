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

  /**
   * The reason a shard's signal fires with, built without capturing a stack: that stack
   * would only show the registry's dispatch (the abort came from another request or
   * replica), and capturing it is ~25 µs of a remote abort's ~100 µs handling when the
   * process is cold. `stack` is then just `name: message`.
   */
  static signalReason(
    code: RunAbortedCode,
    runId: string,
    message: string,
    status: RunStatus,
  ): RunAbortedError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new RunAbortedError(code, runId, message, { status });
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
