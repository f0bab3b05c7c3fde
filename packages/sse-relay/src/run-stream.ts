import { backoffDelay, type Logger } from '@x/kernel';
import type { Subscription } from '@x/pubsub-core';
import type { EventLog, StoredEvent } from './event-log.js';
import type { ListenEndReason, ListenerEntry } from './listener-entry.js';
import { payloadPassesFast } from './payload-fast-check.js';
import { RUN_EVENT_PAYLOAD_SCHEMAS, type RunEvent, runEventOf } from './run-event-types.js';

export interface StreamCounters {
  duplicatesDropped: number;
  gapsFilled: number;
  gapsUnrecoverable: number;
  syncErrors: number;
  malformedHistory: number;
  /** Streams ended because the run's history was rebuilt (a new epoch): clients resume. */
  epochChanges: number;
}

export interface RunStreamDeps {
  log: EventLog;
  /** Largest history read. */
  readChunk: number;
  gapTimeoutMs: number;
  maxPending: number;
  counters: StreamCounters;
  logger: Logger | undefined;
  subscribe(runId: string, onEvent: (event: RunEvent) => void): Promise<Subscription>;
  /** Called once when the stream ends or is disposed, to forget it. */
  onGone(stream: RunStream): void;
}

const MAX_SYNC_BACKOFF_MS = 5_000;

/**
 * A run's events in one process: one bus subscription shared by every local listener,
 * delivering strictly in sequence order within one epoch. An event that arrives early waits
 * in `pending`; a gap not filled by pub/sub within `gapTimeoutMs` is read from the history,
 * which every event reaches before it is published. A new epoch (the history was rebuilt or
 * a gap declared) ends the listeners with `gap`: what they missed is gone, so their clients
 * resume and get `recovered: false`.
 */
export class RunStream {
  /** The last seq delivered to this process's listeners. */
  cursor = 0;
  /**
   * The epoch `cursor` belongs to; undefined while the run has no history. Such a stream
   * adopts only a run's first epoch (base 0, seen from its seq 1 on): any other means a
   * history it never saw was lost.
   */
  epoch: string | undefined = undefined;
  /** The seq before the epoch's first event (0 for a run's first epoch). */
  base = 0;
  refs = 0;
  ended = false;
  readonly ready: Promise<void>;
  readonly listeners = new Set<ListenerEntry>();
  private readonly pending = new Map<number, RunEvent>();
  private initializing = true;
  private gapTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private syncFailures = 0;
  private subscription: Subscription | undefined;

  constructor(
    readonly runId: string,
    private readonly deps: RunStreamDeps,
  ) {
    this.ready = this.init();
    // listen() awaits ready and reports the failure; this only prevents an unhandled rejection.
    this.ready.catch(() => {});
  }

  private async init(): Promise<void> {
    try {
      // Subscribe before reading the head so nothing published in between is missed.
      this.subscription = await this.deps.subscribe(this.runId, (event) => this.receive(event));
      if (this.ended) return this.release();
      const head = await this.deps.log.head(this.runId);
      this.epoch = head?.epoch;
      this.base = head?.base ?? 0;
      this.cursor = head?.seq ?? 0;
    } catch (error) {
      this.dispose();
      throw error;
    }
    this.initializing = false;
    for (const [seq, event] of this.pending) {
      if (seq <= this.cursor || (this.epoch !== undefined && event.epoch !== this.epoch))
        this.pending.delete(seq);
    }
    this.drain();
  }

  receive(event: RunEvent): void {
    if (this.ended) return;
    if (this.epoch !== undefined && event.epoch !== this.epoch) {
      // Another epoch: the history read tells whether ours is gone (then the listeners end).
      void this.sync();
      return;
    }
    if (event.seq <= this.cursor) {
      this.deps.counters.duplicatesDropped++;
      return;
    }
    this.pending.set(event.seq, event);
    if (this.initializing) return;
    this.drain();
    if (this.pending.size > this.deps.maxPending) void this.sync();
  }

  /** Reads the history past the cursor and delivers it (after a reconnect, a gap, a tick). */
  sync(): Promise<void> {
    if (this.ended || this.initializing) return Promise.resolve();
    this.syncing ??= this.syncFromLog().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  /** Ends every listener with `reason` and releases the subscription. */
  finish(reason: ListenEndReason): void {
    if (this.ended) return;
    this.dispose();
    for (const listener of [...this.listeners]) listener.end(reason);
    this.listeners.clear();
  }

  /** Releases the subscription and timers without telling listeners (the last one left). */
  dispose(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.gapTimer);
    this.pending.clear();
    this.deps.onGone(this);
    if (!this.initializing || this.subscription) void this.release();
  }

  private async release(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    try {
      await subscription?.unsubscribe();
    } catch (error) {
      this.deps.logger?.warn({ err: error, runId: this.runId }, 'sse-relay: unsubscribe failed');
    }
  }

  private drain(): void {
    for (;;) {
      if (this.ended) return;
      const next = this.pending.get(this.cursor + 1);
      if (!next) break;
      // Seq 1 with no history known: the run's first epoch began after this stream joined.
      if (this.epoch === undefined && this.cursor === 0) this.epoch = next.epoch;
      this.pending.delete(next.seq);
      if (next.epoch !== this.epoch) {
        void this.sync();
        continue;
      }
      this.dispatch(next);
    }
    if (this.pending.size === 0) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    } else this.armGapTimer(this.deps.gapTimeoutMs);
  }

  private dispatch(event: RunEvent): void {
    this.cursor = event.seq;
    for (const listener of [...this.listeners]) listener.deliver(event);
    if (event.type === 'done') this.finish('done');
  }

  private armGapTimer(delayMs: number): void {
    if (this.gapTimer || this.ended) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      void this.sync();
    }, delayMs);
  }

  private async syncFromLog(): Promise<void> {
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    try {
      for (;;) {
        const { head, events: stored } = await this.deps.log.read(
          this.runId,
          this.cursor,
          this.deps.readChunk,
        );
        if (this.ended) return;
        if (!head) {
          // No history: ours is gone (Redis lost it); or there never was one yet.
          if (this.epoch !== undefined) return this.lost('history gone', true);
          break;
        }
        if (this.epoch === undefined) {
          if (head.base !== 0) return this.lost('epoch', true);
          this.epoch = head.epoch;
        } else if (head.epoch !== this.epoch) return this.lost('epoch', true);
        const fresh = stored.filter((s) => s.seq > this.cursor);
        if (fresh.length > 0 && fresh[0]!.seq !== this.cursor + 1) return this.lost('history');
        let delivered = 0;
        for (const entry of fresh) {
          if (entry.seq !== this.cursor + 1) return this.lost('history');
          const event = this.parse(entry);
          if (!event) return this.lost('malformed');
          this.pending.delete(entry.seq);
          this.dispatch(event);
          delivered++;
          if (this.ended) return;
        }
        if (delivered > 0) this.deps.counters.gapsFilled++;
        this.drain();
        if (stored.length < this.deps.readChunk) break;
      }
      // Later events are here but the next one is in no history: it is gone for good.
      if (this.pending.size > 0 && !this.pending.has(this.cursor + 1)) return this.lost('history');
      this.syncFailures = 0;
    } catch (error) {
      this.deps.counters.syncErrors++;
      this.syncFailures++;
      this.deps.logger?.warn({ err: error, runId: this.runId }, 'sse-relay: history read failed');
      // Back off while the log is unreachable; the reconnect hook syncs again anyway.
      const delay = backoffDelay(this.syncFailures + 1, {
        initialMs: this.deps.gapTimeoutMs,
        maxMs: MAX_SYNC_BACKOFF_MS,
        jitter: 0,
      });
      if (this.pending.size > 0) this.armGapTimer(delay);
    }
  }

  private lost(why: string, epochChange = false): void {
    if (epochChange) this.deps.counters.epochChanges++;
    else this.deps.counters.gapsUnrecoverable++;
    this.deps.logger?.warn(
      { runId: this.runId, cursor: this.cursor, why },
      'sse-relay: events lost beyond the history; ending listeners so clients resume',
    );
    this.finish('gap');
  }

  private parse(entry: StoredEvent): RunEvent | undefined {
    const event = parseStoredEvent(this.runId, entry, this.epoch ?? '');
    if (!event) this.deps.counters.malformedHistory++;
    return event;
  }
}

/** Validates a history entry (external input) and turns it into a RunEvent. */
export function parseStoredEvent(
  runId: string,
  entry: StoredEvent,
  epoch: string,
): RunEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry.json);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { type, runId: eventRunId, ...data } = parsed as Record<string, unknown>;
  if (type !== entry.type || eventRunId !== runId) return undefined;
  // The hand check first, as on the emit and pub/sub paths; the schema decides the rest.
  if (
    !payloadPassesFast(entry.type, data) &&
    !RUN_EVENT_PAYLOAD_SCHEMAS[entry.type].safeParse(data).success
  )
    return undefined;
  return runEventOf(entry.seq, epoch, entry.type, runId, data, entry.json);
}
