import type { Cluster, Redis } from 'ioredis';

/** The client a stop-jobs producer or consumer takes: one Redis server, or a Redis Cluster. */
export type StopJobsRedis = Redis | Cluster;

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

export interface StopJobsStreamsOptions {
  /**
   * Name the streams for a Redis Cluster: the commit script writes all three, so they must
   * share a hash slot. Default false (one server: the names DESIGN.md lists, unchanged).
   */
  readonly cluster?: boolean;
}

/**
 * The stream names of the deployment `prefix`. One server: `x:runs:stop_jobs`,
 * `x:runs:job_results`, `x:runs:stop_jobs:dead`. A cluster: the same names with
 * `{x:runs}` as their hash tag (`{x:runs}:stop_jobs`, …), so the three share a slot while
 * other deployments' streams land elsewhere; a prefix that is a hash tag already (`{x}`)
 * puts them in one slot as it is, and is kept.
 *
 * @example stopJobsStreams('x', { cluster: true }).jobs === '{x:runs}:stop_jobs'
 */
export function stopJobsStreams(
  prefix: string,
  opts: StopJobsStreamsOptions = {},
): StopJobsStreams {
  const base = opts.cluster && !hasHashTag(prefix) ? `{${prefix}:runs}` : `${prefix}:runs`;
  return {
    jobs: `${base}:stop_jobs`,
    results: `${base}:job_results`,
    dead: `${base}:stop_jobs:dead`,
  };
}

/** Whether Redis Cluster would hash `key` by a tag: a `{` with a later `}` and bytes between. */
function hasHashTag(key: string): boolean {
  const open = key.indexOf('{');
  if (open === -1) return false;
  const close = key.indexOf('}', open + 1);
  return close > open + 1;
}

/** The `cluster` option's default: what the client is (ioredis sets `isCluster`). */
export function isClusterClient(redis: { readonly isCluster?: boolean }): boolean {
  return redis.isCluster === true;
}
