/** The Redis keys of one deployment's stop-jobs streams (DESIGN.md, "Redis"). */
export interface StopJobsStreams {
  /** `{prefix}:runs:stop_jobs`: stop commands, written by `requestStop`. */
  readonly jobs: string;
  /** `{prefix}:runs:job_results`: one result per handled stop command. */
  readonly results: string;
  /** `{prefix}:runs:stop_jobs:dead`: commands that failed too many deliveries. */
  readonly dead: string;
}

/** Default consumer group: every worker replica of a deployment joins it. */
export const DEFAULT_GROUP = 'stop-jobs';

/** Default `MAXLEN ~` of every stream: bounded memory with room for a long backlog. */
export const DEFAULT_MAX_LEN = 100_000;

export function stopJobsStreams(prefix: string): StopJobsStreams {
  return {
    jobs: `${prefix}:runs:stop_jobs`,
    results: `${prefix}:runs:job_results`,
    dead: `${prefix}:runs:stop_jobs:dead`,
  };
}
