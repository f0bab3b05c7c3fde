/** The Redis keys of one run's event history (`redisEventLog`). */
export interface EventLogKeys {
  /**
   * The counter: `<epoch>:<base>:<l|d><seq>`, then the last append of each recent origin
   * (`;<origin>=<token>:<first seq>:<count>`, lua/append-records.ts): a resend whose first
   * try was applied is answered from it instead of appended again.
   */
  readonly seq: string;
  /** The capped stream of events, entry ids `<seq>-0`. */
  readonly history: string;
}

/**
 * The keys of a run's history: `<prefix>:run:{<runId>}:seq` and `…:history`. (Keys
 * `…:append:<origin>` of the version before are no longer read; they expire.) The run id in
 * braces is a Redis Cluster hash tag, so both keys and the run's channel
 * (`<prefix>:run:{<runId>}:events`) hash to one slot, as the log's scripts require. The same
 * names on one server: one naming, no mode to get wrong. Histories written before the tag
 * (`x:run:<runId>:seq`) are not read: a resume from one of their ids answers
 * `recovered: false`, as for any lost history (docs/operations.md, migration note).
 *
 * @example eventLogKeys('x', id).seq === `x:run:{${id}}:seq`
 */
export function eventLogKeys(prefix: string, runId: string): EventLogKeys {
  const base = `${prefix}:run:{${runId}}`;
  return {
    seq: `${base}:seq`,
    history: `${base}:history`,
  };
}
