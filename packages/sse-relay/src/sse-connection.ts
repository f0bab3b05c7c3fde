import { OutgoingMessage } from 'node:http';
import type { Response } from 'express';
import type { ListenEndReason } from './listener-entry.js';
import type { RunEvent } from './run-event-types.js';

export interface ConnectionCounters {
  eventsDelivered: number;
  slowClientDisconnects: number;
  /** Cut off because their unsent bytes did not drain within `stallTimeoutMs`. */
  stalledClientDisconnects: number;
  peakBufferedBytes: number;
}

/** Router-wide settings, one object shared by every connection (not copied into each). */
export interface ConnectionShared {
  maxBufferedBytes: number;
  /** How long unsent bytes may wait for the socket to drain before the connection is cut. */
  stallTimeoutMs: number;
  counters: ConnectionCounters;
  /** Called once when the response closes, for whatever reason. */
  onGone(conn: SseConnection): void;
  /** Called when the relay (not the client) ends the listener, before the response ends. */
  onListenEnd(conn: SseConnection, reason: ListenEndReason): void;
}

// Precomputed once: writeHead() with no headers set before copies nothing per connection.
// No `Connection` header: the body is delimited by the connection's close (see open()), so
// Node sends `Connection: close` itself.
const HEADERS = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
});
const HEARTBEAT = Buffer.from(': hb\n\n');
// Queued behind everything unsent: its write callback says when all of that left Node.
const DRAIN_MARK = Buffer.alloc(0);
const nativeWrite = OutgoingMessage.prototype.write;

// Fan-out writes one event to many connections: encode its frame once.
const frames = new WeakMap<RunEvent, Buffer>();
function frameOf(event: RunEvent): Buffer {
  let frame = frames.get(event);
  if (!frame) {
    frame = Buffer.from(`id: ${event.seq}-${event.epoch}\ndata: ${event.json}\n\n`);
    frames.set(event, frame);
  }
  return frame;
}

/**
 * One SSE response and everything a connection keeps while it idles: no timer (the router's
 * one heartbeat interval covers all), two small closures handed to the run stream, and the
 * function that leaves it. Every write checks the bytes the client has not taken yet (Node's
 * buffer plus the socket's); past `maxBufferedBytes` the connection is destroyed, so a stalled
 * client costs bounded memory and resumes later with Last-Event-ID. Unsent bytes that do not
 * drain within `stallTimeoutMs` (checked on the heartbeat tick) end it too: a client that
 * stopped reading is cut off in bounded time even on a quiet run, and resumes the same way.
 */
export class SseConnection {
  /** No more writes: the relay ended the stream or the client left. */
  ended = false;
  /** The response closed (the client left or the stream ended). */
  gone = false;
  /** Leaves the run stream (ListenHandle.close). */
  detach: (() => void) | undefined = undefined;
  /** Only while a finished run waits for its `done`. */
  graceTimer: NodeJS.Timeout | undefined = undefined;
  /** Since when unsent bytes wait for the socket (undefined: everything written left Node). */
  private stalledSince: number | undefined = undefined;
  /** The drain mark's callback, made on the first stall only (an idle stream never needs it). */
  private onMarkFlushed: ((err?: Error | null) => void) | undefined = undefined;
  /** Frames written during this turn of the event loop, sent together at its end. */
  private queued: Buffer[] | undefined = undefined;
  /** How many of `queued` are run events (for `eventsDelivered`, counted once sent). */
  private queuedEvents = 0;
  /** The listener given to RunEvents.listen. */
  readonly deliver: (event: RunEvent) => void;
  /** Its `onEnd`. */
  readonly onEnd: (reason: ListenEndReason) => void;

  constructor(
    private readonly res: Response,
    readonly runId: string,
    private readonly shared: ConnectionShared,
  ) {
    // Closures made here capture only `this`, never the request handler's scope (the
    // snapshot, the replay, the request), so none of that outlives the handshake.
    this.deliver = (event) => this.send(event);
    this.onEnd = (reason) => {
      shared.onListenEnd(this, reason);
      this.end();
    };
    res.on('close', () => this.release());
  }

  open(retryMs: number): void {
    // A stream that lives until the connection closes needs no chunked framing: without it
    // each frame is one plain socket write, where chunked encoding corks three buffers
    // (size line, frame, CRLF) and flushes them on the next tick with a writev: a third of
    // the relay's CPU when one event fans out to 100 clients. EventSource reads either.
    this.res.useChunkedEncodingByDefault = false;
    this.res.writeHead(200, HEADERS);
    // Node builds the header block by `+=` and keeps it (`_header`) as long as the response
    // lives: a rope of ~25 small strings (~0.9 KB). Reading a character flattens it in place.
    const header = (this.res as { _header?: unknown })._header;
    if (typeof header === 'string') header.charCodeAt(0);
    const socket = this.res.socket;
    socket?.setNoDelay(true);
    socket?.setTimeout(0);
    // Through `res`: this write also sends the head. Every later one goes to the socket.
    this.res.write(`retry: ${retryMs}\n\n`);
  }

  /** Writes a frame without an id (snapshot, a synthesised done). */
  sendData(data: object): void {
    this.write(Buffer.from(`data: ${JSON.stringify(data)}\n\n`));
  }

  send(event: RunEvent): void {
    if (this.ended) return;
    if (this.write(frameOf(event))) this.queuedEvents++;
    if (event.type === 'done') this.end();
  }

  /** The router's tick: a heartbeat, and the cut-off of a client whose bytes stopped draining. */
  heartbeat(now: number): void {
    if (this.stalledSince !== undefined && now - this.stalledSince >= this.shared.stallTimeoutMs) {
      this.shared.counters.stalledClientDisconnects++;
      this.ended = true;
      this.res.destroy();
      return;
    }
    this.write(HEARTBEAT);
  }

  /** Resolves when the response closes. */
  closed(): Promise<void> {
    if (this.res.closed) return Promise.resolve();
    return new Promise((resolve) => this.res.once('close', () => resolve()));
  }

  end(trailer?: string): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    if (this.res.destroyed || this.res.writableEnded) return;
    if (trailer) this.res.end(trailer);
    else this.res.end();
  }

  /** The response closed (or the request is refused): leave the run stream, drop every timer. */
  release(): void {
    if (this.gone) return;
    this.gone = true;
    this.ended = true;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const detach = this.detach;
    this.detach = undefined;
    detach?.();
    this.shared.onGone(this);
  }

  /**
   * Queues a frame for the end of this turn: the events of one append reach a stream in one
   * synchronous loop, so they leave in one socket write instead of one each (a run's batch of
   * results is tens of frames). A microtask later, so a lone event is not held back.
   */
  private write(chunk: Buffer): boolean {
    if (this.ended || this.res.destroyed || this.res.writableEnded) return false;
    if (this.queued) this.queued.push(chunk);
    else {
      this.queued = [chunk];
      queueMicrotask(() => this.flush());
    }
    return true;
  }

  /** Sends what this turn queued; false when the connection is (now) gone. */
  private flush(): boolean {
    const queued = this.queued;
    const events = this.queuedEvents;
    this.queued = undefined;
    this.queuedEvents = 0;
    if (!queued || this.ended || this.res.destroyed || this.res.writableEnded) return false;
    const chunk = queued.length === 1 ? queued[0]! : Buffer.concat(queued);
    // After open() a frame is one `socket.write`, written at once: `res.write` would cork the
    // socket and flush it on the next tick, which costs CPU per write and holds every client
    // of a fan-out until the last one's write is queued. The body is close-delimited, so
    // `res` has no framing to add. Data a response queued before it had a socket (behind a
    // pipelined request) is flushed when the socket is assigned, so order is kept. A
    // middleware that replaced `res.write` (compression, a body logger) keeps getting it all.
    const socket = this.res.socket;
    if (socket && this.res.write === nativeWrite) socket.write(chunk);
    else this.res.write(chunk);
    const buffered = this.res.writableLength;
    if (buffered > 0 && this.stalledSince === undefined) this.awaitDrain(performance.now());
    const counters = this.shared.counters;
    if (buffered > counters.peakBufferedBytes) counters.peakBufferedBytes = buffered;
    if (buffered > this.shared.maxBufferedBytes) {
      counters.slowClientDisconnects++;
      this.ended = true;
      this.res.destroy();
      return false;
    }
    counters.eventsDelivered += events;
    return true;
  }

  /**
   * Starts the stall clock and queues a zero-length mark behind the unsent bytes. When the
   * mark is flushed and nothing is left the socket drained; if more came meanwhile, another
   * mark goes behind it and the clock keeps running: a client that is always behind is cut
   * off too, while one that reads promptly drains between frames.
   */
  private awaitDrain(now: number): void {
    const socket = this.res.socket;
    if (!socket) return;
    this.stalledSince ??= now;
    this.onMarkFlushed ??= (err) => {
      if (err || this.gone || this.ended) return;
      if (this.res.writableLength === 0) this.stalledSince = undefined;
      else this.res.socket?.write(DRAIN_MARK, this.onMarkFlushed);
    };
    socket.write(DRAIN_MARK, this.onMarkFlushed);
  }
}
