import { clockBase, newEpochId } from './epoch-id.js';
import type { AppendOptions, EventLog, LogHead, NewStoredEvent, StoredEvent } from './event-log.js';
import { RunEventsError } from './run-events-error.js';

interface MemoryHistory {
  epoch: string;
  base: number;
  head: number;
  done: boolean;
  events: StoredEvent[];
  /** Index of the first live entry in `events`; compacted lazily to keep trimming O(1). */
  start: number;
  expiry: NodeJS.Timeout;
}

/**
 * The embedded mode's event log: a counter, an epoch and a bounded array per run in this
 * process, each run forgotten `ttlMs` after its last append (the caller passes `doneTtlMs`
 * for `done`). One process only: use `redisEventLog` when several processes emit. A process
 * restart loses every history; the next append starts a new, high-based epoch, as the Redis
 * log does after an empty restart.
 */
export function memoryEventLog(): EventLog {
  const runs = new Map<string, MemoryHistory>();
  let closed = false;

  const expireLater = (runId: string, ttlMs: number): NodeJS.Timeout => {
    const timer = setTimeout(() => runs.delete(runId), ttlMs);
    // A history waiting to expire must not keep the process alive.
    timer.unref();
    return timer;
  };
  const assertOpen = () => {
    if (closed) throw new RunEventsError('closed', 'the memory event log is closed');
  };
  const headOf = (h: MemoryHistory): LogHead => ({
    epoch: h.epoch,
    base: h.base,
    seq: h.head,
    done: h.done,
  });
  const create = (runId: string, base: number, ttlMs: number, done = false): MemoryHistory => {
    const old = runs.get(runId);
    if (old) clearTimeout(old.expiry);
    const history: MemoryHistory = {
      epoch: newEpochId(),
      base,
      head: base,
      done,
      events: [],
      start: 0,
      expiry: expireLater(runId, ttlMs),
    };
    runs.set(runId, history);
    return history;
  };
  const newBase = (floor: number) => Math.max(clockBase(), floor);

  return {
    async begin(runId, ttlMs) {
      assertOpen();
      if (!runs.has(runId)) create(runId, 0, ttlMs);
    },
    async appendMany(runId, events: readonly NewStoredEvent[], opts: AppendOptions) {
      assertOpen();
      const { floor, historyLimit, ttlMs, doneTtlMs = ttlMs } = opts;
      if (events.length === 0) return { epoch: '', seqs: [] };
      const history = runs.get(runId) ?? create(runId, newBase(floor), ttlMs);
      const seqs: number[] = [];
      for (const event of events) {
        // `done` is the last frame: nothing is appended after it.
        if (history.done) {
          seqs.push(0);
          continue;
        }
        const seq = history.head + 1;
        history.head = seq;
        history.events.push({ seq, type: event.type, json: event.json });
        seqs.push(seq);
        if (event.type === 'done') history.done = true;
      }
      if (seqs.some((s) => s > 0)) {
        clearTimeout(history.expiry);
        history.expiry = expireLater(runId, history.done ? doneTtlMs : ttlMs);
        const excess = history.events.length - history.start - historyLimit;
        if (excess > 0) history.start += excess;
        if (history.start > 1024 && history.start * 2 > history.events.length) {
          history.events = history.events.slice(history.start);
          history.start = 0;
        }
      }
      return { epoch: history.epoch, seqs };
    },
    async read(runId, afterSeq, limit) {
      assertOpen();
      const history = runs.get(runId);
      if (!history) return { head: undefined, events: [] };
      const events: StoredEvent[] = [];
      for (let i = history.start; i < history.events.length && events.length < limit; i++) {
        const event = history.events[i]!;
        if (event.seq > afterSeq) events.push(event);
      }
      return { head: headOf(history), events };
    },
    async last(runId) {
      assertOpen();
      const history = runs.get(runId);
      if (!history) return { head: undefined, events: [] };
      const last = history.events.length > history.start ? history.events.at(-1) : undefined;
      return { head: headOf(history), events: last ? [last] : [] };
    },
    async head(runId) {
      assertOpen();
      const history = runs.get(runId);
      return history ? headOf(history) : undefined;
    },
    async declareGap(runId, floor, ttlMs) {
      assertOpen();
      const old = runs.get(runId);
      return create(runId, newBase(Math.max(floor, old?.head ?? 0)), ttlMs, old?.done ?? false)
        .epoch;
    },
    metrics: () => ({ malformed: 0 }),
    async close() {
      closed = true;
      for (const history of runs.values()) clearTimeout(history.expiry);
      runs.clear();
    },
  };
}
