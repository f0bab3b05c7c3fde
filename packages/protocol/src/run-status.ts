/** Every status a run can be in. `queued` and `running` are live; the rest are terminal. */
export const RUN_STATUSES = ['queued', 'running', 'completed', 'failed', 'aborted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses that are written once and never overwritten (first writer wins). */
export const TERMINAL_STATUSES = ['completed', 'failed', 'aborted'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/** Statuses a run can still leave: the ones an abort applies to. */
export const LIVE_STATUSES = ['queued', 'running'] as const;
export type LiveStatus = (typeof LIVE_STATUSES)[number];

/** Outcome of one test. */
export const RESULT_STATUSES = ['passed', 'failed', 'skipped'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

const terminal: ReadonlySet<string> = new Set(TERMINAL_STATUSES);
const statuses: ReadonlySet<string> = new Set(RUN_STATUSES);

export function isTerminal(status: RunStatus): status is TerminalStatus {
  return terminal.has(status);
}

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === 'string' && statuses.has(value);
}

/** Why a `queued` run waits (`waitingFor`): fair dispatch holds it behind its workspace's share. */
export const RUN_WAIT_REASONS = ['workspace_share'] as const;
export type RunWaitReason = (typeof RUN_WAIT_REASONS)[number];
