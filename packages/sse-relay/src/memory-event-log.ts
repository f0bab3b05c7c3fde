import type { AppendOptions, EventLog, NewStoredEvent, StoredEvent } from './event-log.js';
import { RunEventsError } from './run-events-error.js';

interface MemoryHistory {
  head: number;
  events: StoredEvent[];
  /** Index of the first live entry in `events`; compacted lazily to keep trimming O(1). */
  start: number;
  expiry: NodeJS.Timeout;
}

/**
 * The embedded mode's event log: a counter and a bounded array per run in this process,
 * each run forgotten `ttlMs` after its last append (the caller passes `doneTtlMs` for
 * `done`). One process only: use `redisEventLog` when several processes emit.
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
  const live = (h: MemoryHistory) => h.events.slice(h.start);
  const assertOpen = () => {
    if (closed) throw new RunEventsError('closed', 'the memory event log is closed');
  };

  const appendMany = (
    runId: string,
    events: readonly NewStoredEvent[],
    { floor, historyLimit, ttlMs, doneTtlMs = ttlMs }: AppendOptions,
  ): number[] => {
    assertOpen();
    let history = runs.get(runId);
    const lastEvent = history?.events[history.events.length - 1];
    // `done` is the last frame: nothing is appended after it.
    let done =
      history !== undefined && history.events.length > history.start && lastEvent?.type === 'done';
    const seqs: number[] = [];
    for (const event of events) {
      if (done) {
        seqs.push(0);
        continue;
      }
      if (!history) {
        history = { head: 0, events: [], start: 0, expiry: expireLater(runId, ttlMs) };
        runs.set(runId, history);
      }
      const seq = Math.max(history.head, floor) + 1;
      history.head = seq;
      history.events.push({ seq, type: event.type, json: event.json });
      seqs.push(seq);
      if (event.type === 'done') done = true;
    }
    if (!history || !seqs.some((s) => s > 0)) return seqs;
    clearTimeout(history.expiry);
    history.expiry = expireLater(runId, done ? doneTtlMs : ttlMs);
    const excess = history.events.length - history.start - historyLimit;
    if (excess > 0) history.start += excess;
    if (history.start > 1024 && history.start * 2 > history.events.length) {
      history.events = live(history);
      history.start = 0;
    }
    return seqs;
  };

  return {
    async append(runId, event, opts) {
      return appendMany(runId, [event], opts)[0] ?? 0;
    },
    async appendMany(runId, events, opts) {
      return appendMany(runId, events, opts);
    },
    async read(runId, afterSeq, limit) {
      assertOpen();
      const history = runs.get(runId);
      if (!history) return [];
      const out: StoredEvent[] = [];
      for (let i = history.start; i < history.events.length && out.length < limit; i++) {
        const event = history.events[i]!;
        if (event.seq > afterSeq) out.push(event);
      }
      return out;
    },
    async last(runId) {
      assertOpen();
      const history = runs.get(runId);
      if (!history || history.events.length === history.start) return undefined;
      return history.events[history.events.length - 1];
    },
    async head(runId) {
      assertOpen();
      return runs.get(runId)?.head ?? 0;
    },
    async repair(runId, floor, ttlMs) {
      assertOpen();
      const history = runs.get(runId);
      if (history) history.head = Math.max(history.head, floor);
      else
        runs.set(runId, { head: floor, events: [], start: 0, expiry: expireLater(runId, ttlMs) });
    },
    metrics: () => ({ malformed: 0 }),
    async close() {
      closed = true;
      for (const history of runs.values()) clearTimeout(history.expiry);
      runs.clear();
    },
  };
}
