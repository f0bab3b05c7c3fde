import type { EventLog } from './event-log.js';
import type { RunEvent } from './run-event-types.js';
import { parseStoredEvent } from './run-stream.js';

/**
 * A resume point: the SSE id a client holds, `<seq>-<epoch>`, or a bare `<seq>` (an older
 * client, `?lastEventId=17`), read as the current epoch.
 */
export interface EventPosition {
  readonly seq: number;
  readonly epoch?: string | undefined;
}

export interface Replay {
  replay: RunEvent[];
  recovered: boolean;
  /** Live events at or below this are skipped for the listener. */
  skipThrough: number;
}

/** Where the joining listener's stream stands: its epoch (undefined: no history) and cursor. */
export interface StreamPoint {
  readonly epoch: string | undefined;
  /** The seq before the epoch's first event. */
  readonly base: number;
  readonly cursor: number;
}

const NOT_RECOVERED: Replay = { replay: [], recovered: false, skipThrough: 0 };

/**
 * What a listener joining at `at` and resuming after `after` must be sent first: exactly
 * the events between the two from the history, or nothing and `recovered: false` when the
 * history lacks any of them or `after` belongs to another epoch — never a partial replay.
 * With no history at all, a resume from 0 is recovered here (nothing to replay); the router
 * decides from the run's snapshot whether events existed that were lost.
 */
export async function computeReplay(
  log: EventLog,
  runId: string,
  after: EventPosition | null,
  at: StreamPoint,
  historyLimit: number,
): Promise<Replay> {
  if (after === null) return { replay: [], recovered: true, skipThrough: 0 };
  const { epoch, base, cursor } = at;
  if (epoch === undefined) {
    return after.seq === 0 ? { replay: [], recovered: true, skipThrough: 0 } : NOT_RECOVERED;
  }
  if (after.epoch !== undefined && after.epoch !== epoch) return NOT_RECOVERED;
  const afterSeq = after.seq;
  // At or before the start of a rebuilt epoch (a bare id of an older one, or a resume from 0):
  // what came before it is gone.
  if (afterSeq < base || (base > 0 && afterSeq === base)) return NOT_RECOVERED;
  if (afterSeq === cursor) return { replay: [], recovered: true, skipThrough: 0 };
  if (afterSeq > cursor) {
    // The client saw events this process has not delivered yet (it was on a faster replica),
    // or a bare id from another epoch.
    const head = await log.head(runId);
    if (head?.epoch !== epoch || afterSeq > head.seq) return NOT_RECOVERED;
    return { replay: [], recovered: true, skipThrough: afterSeq };
  }
  const missing = cursor - afterSeq;
  if (missing > historyLimit) return NOT_RECOVERED;
  const { head, events } = await log.read(runId, afterSeq, missing);
  if (head?.epoch !== epoch) return NOT_RECOVERED;
  const replay: RunEvent[] = [];
  for (let i = 0; i < missing; i++) {
    const entry = events[i];
    if (entry?.seq !== afterSeq + 1 + i) return NOT_RECOVERED;
    const event = parseStoredEvent(runId, entry, epoch);
    if (!event) return NOT_RECOVERED;
    replay.push(event);
  }
  return { replay, recovered: true, skipThrough: 0 };
}
