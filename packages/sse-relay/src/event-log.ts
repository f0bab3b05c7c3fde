import type { ScriptEnvelope } from '@x/pubsub-core';
import type { EmittedEventType } from './run-event-types.js';

/** One entry of a run's history: its sequence number, type and client JSON. */
export interface StoredEvent {
  readonly seq: number;
  readonly type: EmittedEventType;
  readonly json: string;
}

/**
 * Where a run's history stands. An epoch is created together with the history: a history
 * rebuilt after Redis lost it (an empty restart, an eviction) or after a declared gap has a
 * new epoch, so an id of the old one is never taken for a current one. Within an epoch the
 * seqs are contiguous: `base + 1`, `base + 2`, … A run's first epoch (`begin`) has base 0;
 * any later one starts above every seq a client could hold (see `AppendOptions.floor`).
 */
export interface LogHead {
  readonly epoch: string;
  /** The seq before the epoch's first event. */
  readonly base: number;
  /** The last assigned seq (`base` while the epoch is empty). */
  readonly seq: number;
  /** The run's `done` is appended: nothing more is. */
  readonly done: boolean;
}

export interface AppendOptions {
  /**
   * The highest seq the caller knows for this run. A new epoch (the history was lost) starts
   * above it, and above the log's clock (microseconds since 2023-11-14), so whichever process
   * writes first after a loss, no id a client holds is reused. Ignored within an epoch.
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
   * events, `[{"seq":N,"epoch":E,"event":<json>},…]`. A batch above `maxBytes` is split into
   * several messages; a single event above it is not published (subscribers read it from the
   * history).
   */
  publish?: ScriptEnvelope;
  /**
   * Makes the append idempotent: a batch resent after its reply was lost (the script ran, the
   * connection dropped) is answered with what its first try assigned, and appended nothing.
   * Absent: appended every time it is sent. The memory log ignores it (its calls cannot lose
   * their reply).
   */
  token?: AppendToken;
}

/**
 * Who appends and which of its appends this is. The log remembers each origin's last append
 * per run (in the run's counter, for the 64 origins that appended last), so an origin must resend a failed
 * batch, exactly the same events, before it appends anything else to that run. A client
 * library that resends an unanswered command after a reconnect (ioredis does by default)
 * sends the same token: also answered, not appended again.
 */
export interface AppendToken {
  /** The appending process (one RunEvents instance): random, unique; 1–32 of `[A-Za-z0-9_-]`. */
  readonly origin: string;
  /** Increases with each new batch of this origin; a resend keeps its batch's. */
  readonly n: number;
}

/** An event to append: its type and client JSON. */
export interface NewStoredEvent {
  readonly type: EmittedEventType;
  readonly json: string;
}

/** What an append assigned: the epoch the events went into and one seq per event (0: refused). */
export interface AppendResult {
  readonly epoch: string;
  readonly seqs: number[];
}

/** A history read: the head it was read at (undefined: no history) and the events, ascending. */
export interface HistoryRead {
  readonly head: LogHead | undefined;
  readonly events: StoredEvent[];
}

/**
 * Where a run's sequence counter, epoch and bounded history live: memory (embedded mode) or
 * Redis (distributed). Everything above this interface is the same code in both modes.
 */
export interface EventLog {
  /**
   * True when `appendMany` with `opts.publish` also publishes the appended events on the
   * channel itself (one round trip for both). Absent/false: the caller publishes them.
   */
  readonly publishesOnAppend?: boolean;
  /**
   * Starts the run's first epoch (base 0) unless it has one. Called once a run is handed to
   * the queue, before any of its events can exist; a history created by an append instead
   * (nobody began it, or it was lost) starts a high-based epoch.
   */
  begin(runId: string, ttlMs: number): Promise<void>;
  /**
   * Appends events in order with consecutive sequence numbers, atomically and in one round
   * trip, creating a new epoch when the run has no history. One seq per event: 0 when
   * refused (after the run's `done`, whether appended before or earlier in this batch).
   */
  appendMany(
    runId: string,
    events: readonly NewStoredEvent[],
    opts: AppendOptions,
  ): Promise<AppendResult>;
  /** Events with seq > afterSeq of the current epoch, ascending, at most `limit`. */
  read(runId: string, afterSeq: number, limit: number): Promise<HistoryRead>;
  /** The last event of the run's history, if any, with the head. */
  last(runId: string): Promise<HistoryRead>;
  /** The run's head (undefined when the log knows no history of it). */
  head(runId: string): Promise<LogHead | undefined>;
  /**
   * Events were lost (a bounded buffer dropped them): starts a new, empty epoch above `floor`
   * and the current head, so every resume across the loss answers `recovered: false`.
   * A finished run stays finished. Resolves with the new epoch.
   */
  declareGap(runId: string, floor: number, ttlMs: number): Promise<string>;
  /** Counters: history entries refused as malformed. */
  metrics(): { malformed: number };
  close(): Promise<void>;
}
