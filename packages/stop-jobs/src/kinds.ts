/** Why a stop was requested. Frozen by `asyncapi.yaml` (`StopJob.reason`). */
export const STOP_REASONS = ['user_request', 'admin_request', 'timeout', 'shutdown'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** `outcome` of a `job_results` entry. */
export const STOP_OUTCOMES = ['success', 'failure'] as const;
export type StopOutcome = (typeof STOP_OUTCOMES)[number];

/**
 * `error_code` of a `job_results` entry. `''` is a plain success; `replay_no_op` is a
 * success for a run that was already terminal (a replayed or duplicate stop);
 * `invalid_envelope` is written by the consumer itself for an undecodable entry.
 */
export const RESULT_ERROR_CODES = [
  '',
  'replay_no_op',
  'not_found',
  'invalid_envelope',
  'internal',
] as const;
export type ResultErrorCode = (typeof RESULT_ERROR_CODES)[number];

/** The codes a StopService may answer with (`invalid_envelope` belongs to the consumer). */
export const SERVICE_ERROR_CODES = ['', 'replay_no_op', 'not_found', 'internal'] as const;
export type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[number];
