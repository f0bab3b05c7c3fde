import { z } from 'zod';
import {
  SERVICE_ERROR_CODES,
  type ServiceErrorCode,
  STOP_OUTCOMES,
  type StopOutcome,
  type StopReason,
} from './kinds.js';
import { MAX_MESSAGE_LENGTH } from './schemas.js';

/** A decoded stop command, as handed to the StopService. */
export interface StopJob {
  runId: string;
  reason: StopReason;
  requestedAtMs: number | null;
  requestedBy: string | null;
  /** The stream entry id: unique per command, stable across redeliveries. */
  entryId: string;
  /** 1 on the first delivery; more when an earlier attempt failed or its consumer died. */
  deliveryCount: number;
}

/**
 * What the StopService answers; copied into the `job_results` entry. The one definition of
 * a stop's result: its codes are this package's (`kinds.ts`), and a service maps its own
 * outcome onto them in one place (in @x/shard-worker: `stopResultOf`).
 */
export interface StopServiceResult {
  outcome: StopOutcome;
  errorCode: ServiceErrorCode;
  errorMessage: string;
  /** The run's status after the call (`''` when unknown, e.g. `not_found`). */
  finalStatus: string;
}

/**
 * Applies one stop command. Implementations must be idempotent: a command is delivered at
 * least once, so a run that is already terminal answers `success` with `replay_no_op`.
 * Throwing means "try again later": the entry stays pending and is retried until it is
 * dead-lettered. Answer `failure` for a definitive refusal (e.g. `not_found`).
 */
export interface StopService {
  stop(job: StopJob, opts: { signal: AbortSignal }): Promise<StopServiceResult>;
}

/** The service's answer is input too: a wrong shape counts as a service error. */
export const stopServiceResultSchema = z.compile(
  z.object({
    outcome: z.enum(STOP_OUTCOMES),
    errorCode: z.enum(SERVICE_ERROR_CODES),
    errorMessage: z.string(),
    finalStatus: z.string().regex(/^[a-z_]{0,32}$/),
  }),
);

export function clip(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH
    ? message
    : `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
}
