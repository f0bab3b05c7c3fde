import type { EventLog } from './event-log.js';
import type { RunEvent } from './run-event-types.js';
import { parseStoredEvent } from './run-stream.js';

export interface Replay {
  replay: RunEvent[];
  recovered: boolean;
  /** Live events at or below this are skipped for the listener. */
  skipThrough: number;
}

/**
 * What a listener joining at `headSeq` and resuming after `afterSeq` must be sent first:
 * exactly (afterSeq, headSeq] from the history, or nothing and `recovered: false` when
 * the history lacks any of them — never a partial replay.
 */
export async function computeReplay(
  log: EventLog,
  runId: string,
  afterSeq: number | null,
  headSeq: number,
  historyLimit: number,
): Promise<Replay> {
  if (afterSeq === null || afterSeq === headSeq)
    return { replay: [], recovered: true, skipThrough: 0 };
  const notRecovered = { replay: [], recovered: false, skipThrough: 0 };
  if (afterSeq > headSeq) {
    // The client saw events this process has not delivered yet (it was on a faster
    // replica), or an id from before the log lost its data.
    const logHead = await log.head(runId);
    if (afterSeq > logHead) return notRecovered;
    return { replay: [], recovered: true, skipThrough: afterSeq };
  }
  const missing = headSeq - afterSeq;
  if (missing > historyLimit) return notRecovered;
  const stored = await log.read(runId, afterSeq, missing);
  if (stored.length !== missing) return notRecovered;
  const replay: RunEvent[] = [];
  for (const [i, entry] of stored.entries()) {
    if (entry.seq !== afterSeq + 1 + i) return notRecovered;
    const event = parseStoredEvent(runId, entry);
    if (!event) return notRecovered;
    replay.push(event);
  }
  return { replay, recovered: true, skipThrough: 0 };
}
