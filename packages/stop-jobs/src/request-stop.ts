import { ZodError } from 'zod';
import { describeIssues, encodeStopJob } from './codec.js';
import type { StopReason } from './kinds.js';
import { StopJobsError } from './stop-jobs-error.js';
import {
  DEFAULT_MAX_LEN,
  isClusterClient,
  type StopJobsRedis,
  stopJobsStreams,
} from './stream-names.js';

export interface RequestStopOptions {
  /** Key prefix of the deployment (`X_PREFIX`, default `x` in the apps). */
  prefix: string;
  /**
   * Approximate `MAXLEN ~` of the stop-jobs stream. Default 100,000: bounds memory while
   * leaving room for a long backlog. Entries trimmed before any consumer read them are
   * lost, so keep it well above the backlog you expect while every worker is down.
   */
  maxLen?: number;
  /**
   * The stream names for a Redis Cluster (see `stopJobsStreams`). Default: whether `redis` is
   * an ioredis `Cluster`, so producer and consumers of one deployment agree.
   */
  cluster?: boolean;
}

/**
 * Appends one stop command to `{prefix}:runs:stop_jobs` (on a cluster `{{prefix}:runs}:stop_jobs`)
 * and resolves with its entry id.
 * The job is validated against the same schema the consumers decode with, so a bad
 * command is refused here (StopJobsError `invalid_job`) instead of becoming a poison entry.
 *
 * @example
 * const entryId = await requestStop(redis, { prefix: 'x' }, { runId, reason: 'user_request', requestedBy: 'ws_1' });
 */
export async function requestStop(
  redis: Pick<StopJobsRedis, 'call'> & { readonly isCluster?: boolean },
  opts: RequestStopOptions,
  job: { runId: string; reason: StopReason; requestedBy?: string; requestedAtMs?: number },
): Promise<string> {
  let fields: string[];
  try {
    fields = encodeStopJob({ ...job, requestedAtMs: job.requestedAtMs ?? Date.now() });
  } catch (error) {
    if (error instanceof ZodError) {
      throw new StopJobsError('invalid_job', `invalid stop job: ${describeIssues(error)}`, {
        cause: error,
      });
    }
    throw error;
  }
  const maxLen = opts.maxLen ?? DEFAULT_MAX_LEN;
  const { jobs } = stopJobsStreams(opts.prefix, {
    cluster: opts.cluster ?? isClusterClient(redis),
  });
  const id = await redis.call('XADD', jobs, 'MAXLEN', '~', maxLen, '*', ...fields);
  return String(id);
}
