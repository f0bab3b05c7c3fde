/**
 * How a run's history stores events: one entry per append call (a batch), holding at most
 * `ENTRY_EVENTS` consecutive events, keyed by the seq of its first one. Both logs store and
 * trim the same way, so they keep the same events.
 *
 * Why batches: a run's events come in bursts (a shard's results, completion and progress in
 * one call); one entry per burst is one stream write instead of one per event.
 */

/** Events one history entry holds at most (a larger batch spans several entries). */
export const ENTRY_EVENTS = 64;

/** Events per entry for a history of `historyLimit` events: never more than the limit. */
export const entryEvents = (historyLimit: number) =>
  Math.max(1, Math.min(ENTRY_EVENTS, historyLimit));

/**
 * The lowest first seq an entry may have and be kept, once the run's last seq is `head`.
 * An entry is kept or dropped whole: every entry holding one of the last `historyLimit`
 * events starts at or above this (it holds at most `entryEvents` events), so all of those
 * stay readable, and at most `entryEvents - 1` older ones stay beside them.
 */
export const keepFrom = (head: number, historyLimit: number) =>
  head - historyLimit - entryEvents(historyLimit) + 2;
