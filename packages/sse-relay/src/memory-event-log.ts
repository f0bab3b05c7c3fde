import { clockBase, newEpochId } from './epoch-id.js';
import type { AppendOptions, EventLog, LogHead, NewStoredEvent, StoredEvent } from './event-log.js';
import { entryEvents, keepFrom } from './history-entry.js';
import { RunEventsError } from './run-events-error.js';

/** One history entry: a batch of consecutive events (the Redis log's stream entry). */
type Entry = readonly StoredEvent[];

interface MemoryHistory {
  epoch: string;
  base: number;
  head: number;
  done: boolean;
  entries: Entry[];
  /** Index of the first live entry in `entries`; compacted lazily to keep trimming O(1). */
  start: number;
  expiry: NodeJS.Timeout;
}

/**
 * The embedded mode's event log: a counter, an epoch and a bounded array per run in this
 * process, each run forgotten `ttlMs` after its last append (the caller passes `doneTtlMs`
 * for `done`), stored and trimmed in entries of a batch each, exactly as the Redis log does
 * (history-entry.ts). One process only: use `redisEventLog` when several processes emit. A process
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
      entries: [],
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
      const per = entryEvents(historyLimit);
      const added: StoredEvent[][] = [];
      for (const event of events) {
        // `done` is the last frame: nothing is appended after it.
        if (history.done) {
          seqs.push(0);
          continue;
        }
        const seq = history.head + 1;
        history.head = seq;
        const last = added.at(-1);
        if (last && last.length < per) last.push({ seq, type: event.type, json: event.json });
        else added.push([{ seq, type: event.type, json: event.json }]);
        seqs.push(seq);
        if (event.type === 'done') history.done = true;
      }
      if (added.length > 0) {
        clearTimeout(history.expiry);
        history.expiry = expireLater(runId, history.done ? doneTtlMs : ttlMs);
        // Whole entries, kept from `keepFrom` on (as the Redis log's MINID trim).
        const keep = keepFrom(history.head, historyLimit);
        for (const entry of added) if (entry[0]!.seq >= keep) history.entries.push(entry);
        const { entries } = history;
        while (history.start < entries.length && entries[history.start]![0]!.seq < keep)
          history.start++;
        if (history.start > 1024 && history.start * 2 > entries.length) {
          history.entries = entries.slice(history.start);
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
      const { entries } = history;
      for (let i = history.start; i < entries.length && events.length < limit; i++) {
        const entry = entries[i]!;
        // Entries wholly at or before the resume point are skipped; a straddling one yields
        // only its events after it.
        if (entry.at(-1)!.seq <= afterSeq) continue;
        for (const event of entry) {
          if (events.length >= limit) break;
          if (event.seq > afterSeq) events.push(event);
        }
      }
      return { head: headOf(history), events };
    },
    async last(runId) {
      assertOpen();
      const history = runs.get(runId);
      if (!history) return { head: undefined, events: [] };
      const last = history.entries.length > history.start ? history.entries.at(-1) : undefined;
      return { head: headOf(history), events: last ? [last.at(-1)!] : [] };
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
