import { randomBytes } from 'node:crypto';
import type { BoundChannel, ScriptEnvelope } from '@x/pubsub-core';
import { computeReplay, type EventPosition } from './compute-replay.js';
import { EmitBuffer } from './emit-buffer.js';
import { EmitCoalescer } from './emit-coalescer.js';
import { ListenerEntry } from './listener-entry.js';
import { canonicalRunId, type PreparedEvent, prepareEvents } from './prepare-events.js';
import { type RunEvent, runEventOf } from './run-event-types.js';
import type { EmitOptions, NewRunEvent, RunEvents, RunEventsOptions } from './run-events-api.js';
import {
  runEventsChannel,
  type WireRunEvent,
  type WireRunEventBatch,
} from './run-events-channel.js';
import { RunEventsError } from './run-events-error.js';
import { parseStoredEvent as parseLast, RunStream, type StreamCounters } from './run-stream.js';

/** Bytes of one wire item around its event JSON: `{"seq":N,"event":…},`. */
const ITEM_OVERHEAD = 40;

const MAX_FLOORS = 10_000;
/**
 * Events of a run waiting behind its append in flight, at most (capped by the buffer's own
 * bounds too); beyond, they go to the emit buffer, bounded there, and follow that append.
 */
export const MAX_WAITING_EVENTS = 500;
const MAX_WAITING_BYTES = 1024 * 1024;
const MAX_CHANNELS = 1_024;

/** The seq `emit`/`emitMany` answer for an event that waits in the buffer (the log is unavailable). */
export const BUFFERED_SEQ = -1;

/**
 * Sequenced, resumable run events. Emitting assigns a per-run seq atomically in the log,
 * appends to the bounded history, then publishes on the bus (local listeners first). A run's
 * emits made close together share one append (emit-coalescer.ts).
 * Each process delivers to its listeners strictly in seq order.
 *
 * @example
 * const events = createRunEvents({ bus, log: redisEventLog({ redis, prefix: 'x' }) });
 * await events.emit(runId, 'progress', { passed: 3, failed: 0, total: 10, shardsCompleted: 1, shardCount: 4 });
 */
export function createRunEvents(opts: RunEventsOptions): RunEvents {
  const { bus, log, logger } = opts;
  const historyLimit = opts.historyLimit ?? 10_000;
  const doneTtlMs = opts.doneTtlMs ?? 10 * 60_000;
  const idleTtlMs = opts.idleTtlMs ?? 24 * 60 * 60_000;
  const catchUpIntervalMs = opts.catchUpIntervalMs ?? 5_000;
  const maxHeldEvents = opts.maxHeldEvents ?? 10_000;
  const coalesceMs = opts.emitCoalesceMs ?? 0;
  if (!(Number.isFinite(coalesceMs) && coalesceMs >= 0))
    throw new RunEventsError(
      'invalid_option',
      `createRunEvents: emitCoalesceMs must be a non-negative number of ms, got ${coalesceMs}`,
    );
  const counters: StreamCounters = {
    duplicatesDropped: 0,
    gapsFilled: 0,
    gapsUnrecoverable: 0,
    syncErrors: 0,
    malformedHistory: 0,
    epochChanges: 0,
  };
  const totals = {
    emitted: 0,
    appends: 0,
    emitFailures: 0,
    droppedAfterDone: 0,
    delivered: 0,
    foreignDropped: 0,
  };
  const streams = new Map<string, RunStream>();
  const floors = new Map<string, number>();
  const channels = new Map<string, BoundChannel<WireRunEventBatch>>();
  /** Emits of a run whose append is in flight (each settles once appended or buffered). */
  const appending = new Map<string, Set<Promise<unknown>>>();
  let catchUpTimer: NodeJS.Timeout | undefined;
  let closed = false;
  // Idempotent appends: this instance's origin and batch counter (AppendToken).
  const origin = randomBytes(9).toString('base64url');
  let batches = 0;
  const nextToken = () => ++batches;

  const channelFor = (runId: string) => {
    let channel = channels.get(runId);
    if (!channel) {
      if (channels.size >= MAX_CHANNELS) channels.delete(channels.keys().next().value!);
      channel = bus.channel(runEventsChannel, { runId });
      channels.set(runId, channel);
    }
    return channel;
  };

  const streamDeps = {
    log,
    readChunk: historyLimit,
    gapTimeoutMs: opts.gapTimeoutMs ?? 250,
    maxPending: historyLimit,
    counters,
    logger,
    subscribe: (runId: string, onEvent: (event: RunEvent) => void) =>
      channelFor(runId).subscribe((batch) => {
        // Validated once by the bus (envelope, version, schema): only unpacked here.
        for (const { seq, epoch, event } of batch) {
          const { type, runId: eventRunId, ...data } = event;
          if (eventRunId !== runId) totals.foreignDropped++;
          // `event` is `{type, runId, ...data}` in that order (the schema's keys first).
          else onEvent(runEventOf(seq, epoch, type, runId, data, JSON.stringify(event)));
        }
      }),
    onGone: (stream: RunStream) => {
      if (streams.get(stream.runId) === stream) streams.delete(stream.runId);
      if (streams.size === 0) {
        clearInterval(catchUpTimer);
        catchUpTimer = undefined;
      }
    },
  };

  /** The bus path (a log that does not publish): one bus message per chunk of the batch. */
  const publishViaBus = (
    channel: BoundChannel<WireRunEventBatch>,
    batch: readonly WireRunEvent[],
    jsons: readonly string[],
  ) => {
    let chunk: WireRunEvent[] = [];
    let size = 256;
    batch.forEach((item, i) => {
      const bytes = Buffer.byteLength(jsons[i]!) + ITEM_OVERHEAD;
      if (chunk.length > 0 && size + bytes > channel.maxBytes) {
        channel.publish(chunk);
        chunk = [];
        size = 256;
      }
      chunk.push(item);
      size += bytes;
    });
    if (chunk.length > 0) channel.publish(chunk);
  };

  const acquire = (runId: string): RunStream => {
    let stream = streams.get(runId);
    if (!stream) {
      stream = new RunStream(runId, streamDeps);
      streams.set(runId, stream);
      catchUpTimer ??= setInterval(() => {
        for (const s of streams.values()) void s.sync();
      }, catchUpIntervalMs);
    }
    stream.refs++;
    return stream;
  };
  const release = (stream: RunStream) => {
    stream.refs--;
    if (stream.refs <= 0) stream.dispose();
  };

  // The subscription was down: anything published meanwhile is only in the history, and a
  // history rebuilt meanwhile (Redis came back empty) has a new epoch, which `sync` detects.
  // Buffered events go out first.
  const offReconnect = bus.onReconnect(() => {
    void buffer.kick().finally(() => {
      for (const stream of streams.values()) if (!stream.ended) void stream.sync();
    });
  });

  const assertOpen = () => {
    if (closed) throw new RunEventsError('closed', 'RunEvents is closed');
  };
  const noteFloor = (runId: string, seq: number, done: boolean) => {
    floors.delete(runId);
    if (done) return;
    if (floors.size >= MAX_FLOORS) floors.delete(floors.keys().next().value!);
    floors.set(runId, seq);
  };

  /**
   * Appends a prepared batch (one round trip) and serves this process's listeners from the
   * reply; throws when the log is unavailable. The buffer's flush uses it too.
   */
  const appendNow = async (runId: string, prepared: readonly PreparedEvent[], n: number) => {
    const channel = channelFor(runId);
    // The log's script publishes pubsub-core's envelope itself: head, tail and size limit
    // come from the channel, the script writes only the payload (the batch) between them.
    const envelope: ScriptEnvelope | undefined = log.publishesOnAppend
      ? channel.scriptEnvelope()
      : undefined;
    const { epoch, seqs } = await log.appendMany(runId, prepared, {
      floor: floors.get(runId) ?? 0,
      historyLimit,
      ttlMs: idleTtlMs,
      doneTtlMs,
      publish: envelope,
      token: { origin, n },
    });
    totals.appends++;
    let head = 0;
    let done = false;
    const batch: WireRunEvent[] = [];
    // Only the bus path needs the JSON again, to split the batch by size.
    const jsons: string[] | undefined = envelope ? undefined : [];
    prepared.forEach(({ type, event, json }, i) => {
      const seq = seqs[i] ?? 0;
      if (seq === 0) {
        // The log refused it: the run's `done` is already out.
        totals.droppedAfterDone++;
        done = true;
        return;
      }
      head = seq;
      if (type === 'done') done = true;
      totals.emitted++;
      batch.push({ seq, epoch, event });
      jsons?.push(json);
    });
    if (batch.length > 0) {
      // The bus drops the script message's echo (our origin): this process's listeners, of
      // every RunEvents on this bus, are served from the reply, without waiting for pub/sub.
      if (envelope) channel.deliverLocal(batch, envelope.ts);
      else publishViaBus(channel, batch, jsons ?? []);
    }
    if (head > 0 || done) noteFloor(runId, head, done);
    return seqs;
  };

  const maxEvents = opts.bufferMaxEvents ?? 10_000;
  const maxBytes = opts.bufferMaxBytes ?? 16 * 1024 * 1024;
  const buffer = new EmitBuffer({
    maxEvents,
    maxBytes,
    append: async (runId, prepared, token) => {
      await appendNow(runId, prepared, token);
    },
    nextToken,
    declareGap: async (runId) => {
      await log.declareGap(runId, floors.get(runId) ?? 0, idleTtlMs);
    },
    logger,
  });

  /** One send of a run's coalesced events: behind the buffer, or appended now. */
  const sendNow = async (runId: string, prepared: readonly PreparedEvent[]) => {
    // Behind this run's older events (or while the log is known down): in order, later.
    if (buffer.holds(runId)) {
      buffer.add(runId, prepared);
      return prepared.map(() => BUFFERED_SEQ);
    }
    // Events the buffer takes meanwhile (coalescer overflow) wait there for this send.
    buffer.sending(runId);
    const n = nextToken();
    try {
      const seqs = await appendNow(runId, prepared, n);
      buffer.sent(runId);
      return seqs;
    } catch (error) {
      totals.emitFailures += prepared.length;
      // It may have been appended (only its reply lost): resent as the same batch.
      buffer.sent(runId, prepared, error, n);
      return prepared.map(() => BUFFERED_SEQ);
    }
  };
  const waitingEvents = Math.min(MAX_WAITING_EVENTS, maxEvents);
  const waitingBytes = Math.min(MAX_WAITING_BYTES, maxBytes);
  // Behind a send in flight: to the buffer once the log is known down (or the run is held
  // there), or past a small cap, so an append hanging on a dead server piles nothing up.
  const coalescer = new EmitCoalescer(sendNow, coalesceMs, (runId, waiting, bytes) => {
    if (!buffer.holds(runId) && waiting.length < waitingEvents && bytes < waitingBytes) return;
    buffer.add(runId, waiting);
    return waiting.map(() => BUFFERED_SEQ);
  });

  const emitMany = async (
    runIdIn: string,
    events: readonly NewRunEvent[],
    opts?: EmitOptions,
  ): Promise<number[]> => {
    assertOpen();
    const runId = canonicalRunId(runIdIn);
    const prepared = prepareEvents(runId, events);
    if (prepared.length === 0) return [];
    // Queued behind the buffer (the log is down, or this run's older events wait there): at
    // once, as there is no append to share; the buffer appends them in chunks later.
    if (buffer.holds(runId) && !coalescer.holds(runId)) {
      buffer.add(runId, prepared);
      return prepared.map(() => BUFFERED_SEQ);
    }
    // Tracked from here (coalescing, then the append) until appended or buffered, so
    // `settled` waits for it.
    const attempt = coalescer.add(
      runId,
      prepared,
      opts?.urgent === true || prepared.some((e) => e.type === 'done'),
    );
    let inFlight = appending.get(runId);
    if (!inFlight) {
      inFlight = new Set();
      appending.set(runId, inFlight);
    }
    inFlight.add(attempt);
    try {
      return await attempt;
    } finally {
      inFlight.delete(attempt);
      if (inFlight.size === 0 && appending.get(runId) === inFlight) appending.delete(runId);
    }
  };

  return {
    async emit(runId, type, payload) {
      const [seq] = await emitMany(runId, [{ type, payload } as NewRunEvent]);
      return seq ?? 0;
    },

    emitMany,

    async begin(runIdIn) {
      assertOpen();
      await log.begin(canonicalRunId(runIdIn), idleTtlMs);
    },

    async listen(runIdIn, afterIn, listener, listenOpts = {}) {
      assertOpen();
      const runId = canonicalRunId(runIdIn);
      const after: EventPosition | null = typeof afterIn === 'number' ? { seq: afterIn } : afterIn;
      if (after !== null && !(Number.isSafeInteger(after.seq) && after.seq >= 0)) {
        throw new RunEventsError(
          'invalid_event',
          `afterSeq must be a non-negative integer or null, got ${after.seq}`,
        );
      }
      for (let attempt = 0; ; attempt++) {
        const stream = acquire(runId);
        try {
          await stream.ready;
        } catch (error) {
          release(stream);
          throw new RunEventsError('log_unavailable', `could not subscribe to run ${runId}`, {
            cause: error,
          });
        }
        // It ended (done) while we waited: a fresh stream starts at the new head.
        if (stream.ended && attempt < 3) continue;
        const headSeq = stream.cursor;
        const at = { epoch: stream.epoch, base: stream.base, cursor: headSeq };
        const entry = new ListenerEntry(listener, listenOpts.onEnd, maxHeldEvents, () => {
          totals.delivered++;
        });
        if (stream.ended) entry.end('closed');
        else stream.listeners.add(entry);
        let closedHandle = false;
        const close = () => {
          if (closedHandle) return;
          closedHandle = true;
          entry.silence();
          stream.listeners.delete(entry);
          release(stream);
        };
        try {
          const { replay, recovered, skipThrough } = await computeReplay(
            log,
            runId,
            after,
            at,
            historyLimit,
          );
          entry.skipThrough = skipThrough;
          return {
            replay,
            recovered,
            headSeq,
            epoch: at.epoch,
            start: () => entry.start(),
            catchUp: () => void stream.sync(),
            close,
          };
        } catch (error) {
          close();
          throw new RunEventsError(
            'log_unavailable',
            `could not read the history of run ${runId}`,
            { cause: error },
          );
        }
      }
    },

    async settled(runIdIn, settleOpts = {}) {
      const runId = canonicalRunId(runIdIn);
      const inFlight = settleOpts.inFlight === false ? undefined : appending.get(runId);
      // The common case while Redis answers: nothing to wait for, no timer or listener made.
      if (!inFlight && buffer.settledNow(runId)) return 'appended';
      const { signal, timeoutMs } = settleOpts;
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      if (signal?.aborted) stop.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = timeoutMs === undefined ? undefined : setTimeout(onAbort, timeoutMs);
      try {
        if (inFlight && !stop.signal.aborted) {
          const stopped = new Promise<void>((resolve) => {
            stop.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          // Settled either way: appended, or in the buffer (waited for below).
          await Promise.race([Promise.allSettled(inFlight), stopped]);
        }
        return await buffer.settled(runId, stop.signal);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
    },

    available: () => !closed && bus.state === 'connected',

    async lastEvent(runIdIn) {
      const runId = canonicalRunId(runIdIn);
      const { head, events } = await log.last(runId);
      const stored = events[0];
      return head && stored ? parseLast(runId, stored, head.epoch) : undefined;
    },

    metrics() {
      let listeners = 0;
      for (const stream of streams.values()) listeners += stream.listeners.size;
      return {
        ...counters,
        ...totals,
        listeners,
        runs: streams.size,
        malformedLog: log.metrics().malformed,
        ...buffer.metrics(),
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      // Emits still being coalesced go out (or to the buffer) first.
      await coalescer.drain();
      // Unflushed events: flushed if the log answers in time, else their runs get a gap.
      await buffer.close(opts.closeFlushTimeoutMs ?? 2_000);
      offReconnect();
      clearInterval(catchUpTimer);
      for (const stream of [...streams.values()]) stream.finish('closed');
      streams.clear();
      channels.clear();
    },
  };
}
