import type { ScriptEnvelope } from '@x/pubsub-core';
import type { EmittedEventType } from './run-event-types.js';

/** One entry of a run's history: its sequence number, type and client JSON. */
export interface StoredEvent {
  readonly seq: number;
  readonly type: EmittedEventType;
  readonly json: string;
}

export interface AppendOptions {
  /**
   * The highest sequence number the caller knows for this run. The log never assigns a
   * number at or below it, so a log that lost its data (Redis restarted without
   * persistence) continues the sequence instead of reusing numbers clients already saw.
   */
  floor: number;
  /** Keep at most this many events. */
  historyLimit: number;
  /** Time to live of the run's history from this append, in ms. */
  ttlMs: number;
  /** Time to live once a `done` is appended, in ms. Default `ttlMs`. */
  doneTtlMs?: number;
  /**
   * Publish the appended events in the same atomic step (only logs with `publishesOnAppend`;
   * others ignore it and the caller publishes through the bus): the channel's envelope from
   * pubsub-core (`BoundChannel.scriptEnvelope()`), whose payload is the batch of appended
   * events, `[{"seq":N,"event":<json>},…]`. A batch above `maxBytes` is split into several
   * messages; a single event above it is not published (subscribers read it from the history).
   */
  publish?: ScriptEnvelope;
}

/** An event to append: its type and client JSON. */
export interface NewStoredEvent {
  readonly type: EmittedEventType;
  readonly json: string;
}

/**
 * Where a run's sequence counter and bounded history live: memory (embedded mode) or
 * Redis (distributed). Everything above this interface is the same code in both modes.
 */
export interface EventLog {
  /**
   * True when `appendMany` with `opts.publish` also publishes the appended events on the
   * channel itself (one round trip for both). Absent/false: the caller publishes them.
   */
  readonly publishesOnAppend?: boolean;
  /**
   * Assigns the run's next sequence number and appends the event, atomically. Resolves with
   * the seq, or 0 when the event was refused because the run's `done` is already appended.
   */
  append(runId: string, event: NewStoredEvent, opts: AppendOptions): Promise<number>;
  /**
   * Appends events in order with consecutive sequence numbers, atomically and in one round
   * trip. One entry per event: its seq, or 0 when refused (after the run's `done`, whether
   * appended before or earlier in this batch).
   */
  appendMany(
    runId: string,
    events: readonly NewStoredEvent[],
    opts: AppendOptions,
  ): Promise<number[]>;
  /** Events with seq > afterSeq, ascending, at most `limit`. */
  read(runId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /** The last event of the run's history, if any. */
  last(runId: string): Promise<StoredEvent | undefined>;
  /** The last assigned sequence number (0 when the log knows none). */
  head(runId: string): Promise<number>;
  /** Raises the counter to at least `floor` (after the log lost its data). */
  repair(runId: string, floor: number, ttlMs: number): Promise<void>;
  /** Counters: history entries refused as malformed. */
  metrics(): { malformed: number };
  close(): Promise<void>;
}
