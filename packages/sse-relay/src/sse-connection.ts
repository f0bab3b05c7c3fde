import type { Response } from 'express';
import type { RunEvent } from './run-event-types.js';

export interface ConnectionCounters {
  eventsDelivered: number;
  slowClientDisconnects: number;
  peakBufferedBytes: number;
}

// Fan-out writes one event to many connections: encode its frame once.
const frames = new WeakMap<RunEvent, Buffer>();
function frameOf(event: RunEvent): Buffer {
  let frame = frames.get(event);
  if (!frame) {
    frame = Buffer.from(`id: ${event.seq}\ndata: ${event.json}\n\n`);
    frames.set(event, frame);
  }
  return frame;
}

/**
 * One SSE response. Every write checks the bytes the client has not taken yet (Node's
 * buffer plus the socket's); past `maxBufferedBytes` the connection is destroyed, so a
 * stalled client costs bounded memory and resumes later with Last-Event-ID.
 */
export class SseConnection {
  ended = false;

  constructor(
    private readonly res: Response,
    private readonly maxBufferedBytes: number,
    private readonly counters: ConnectionCounters,
  ) {}

  open(retryMs: number): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    const socket = this.res.socket;
    socket?.setNoDelay(true);
    socket?.setTimeout(0);
    this.write(`retry: ${retryMs}\n\n`);
  }

  /** Writes a frame without an id (snapshot, a synthesised done). */
  sendData(data: object): void {
    this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  send(event: RunEvent): void {
    if (this.ended) return;
    if (this.write(frameOf(event))) this.counters.eventsDelivered++;
    if (event.type === 'done') this.end();
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  /** Resolves when the response closes. */
  closed(): Promise<void> {
    if (this.res.closed) return Promise.resolve();
    return new Promise((resolve) => this.res.once('close', () => resolve()));
  }

  end(trailer?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.res.destroyed || this.res.writableEnded) return;
    if (trailer) this.res.end(trailer);
    else this.res.end();
  }

  private write(chunk: string | Buffer): boolean {
    if (this.ended || this.res.destroyed || this.res.writableEnded) return false;
    this.res.write(chunk);
    const buffered = this.res.writableLength;
    if (buffered > this.counters.peakBufferedBytes) this.counters.peakBufferedBytes = buffered;
    if (buffered > this.maxBufferedBytes) {
      this.counters.slowClientDisconnects++;
      this.ended = true;
      this.res.destroy();
      return false;
    }
    return true;
  }
}
