import { type ClientRequest, type IncomingMessage, request } from 'node:http';

export interface SseFrame {
  id?: string;
  data?: Record<string, unknown>;
  retry?: number;
  comment?: string;
}

export interface SseStream {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly frames: SseFrame[];
  /** Data frames only. */
  readonly events: Array<Record<string, unknown> & { id?: number }>;
  readonly ended: Promise<void>;
  readonly body: () => string;
  close(): void;
}

/** A minimal EventSource over node:http that keeps every frame it sees. */
export function openSse(
  url: string,
  {
    headers = {},
    onEvent,
  }: {
    headers?: Record<string, string>;
    onEvent?: (e: Record<string, unknown>, frame: SseFrame) => void;
  } = {},
): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, {
      headers: { accept: 'text/event-stream', ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const frames: SseFrame[] = [];
      const events: Array<Record<string, unknown> & { id?: number }> = [];
      let buffer = '';
      let raw = '';
      res.setEncoding('utf8');
      const ended = new Promise<void>((done) => {
        res.on('close', () => done());
        res.on('error', () => done());
      });
      res.on('data', (chunk: string) => {
        raw += chunk;
        buffer += chunk;
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const frame: SseFrame = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) frame.comment = line.slice(1).trim();
            else if (line.startsWith('id: ')) frame.id = line.slice(4);
            else if (line.startsWith('retry: ')) frame.retry = Number(line.slice(7));
            else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6));
          }
          frames.push(frame);
          if (frame.data) {
            const event = {
              ...frame.data,
              // `id` is the seq (tests compare numbers); the frame keeps it as sent, `<seq>-<epoch>`.
              ...(frame.id !== undefined ? { id: Number(frame.id.split('-')[0]) } : {}),
            };
            events.push(event);
            onEvent?.(event, frame);
          }
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames,
        events,
        ended,
        body: () => raw,
        close: () => {
          req.destroy();
          res.destroy();
        },
      });
    });
    req.end();
  });
}

/**
 * Follows a run like a browser's EventSource: reconnects with Last-Event-ID whenever the
 * stream ends before `done`, and records every id it sees in order.
 */
export function followRun(
  baseUrl: string,
  runId: string,
  headers: Record<string, string> = {},
): {
  /** Seqs, in order (the id's leading number). */
  ids: number[];
  messages: string[];
  snapshots: Array<Record<string, unknown>>;
  done: Promise<void>;
  stop(): void;
} {
  const ids: number[] = [];
  const messages: string[] = [];
  const snapshots: Array<Record<string, unknown>> = [];
  // Sent back verbatim, `<seq>-<epoch>`, as EventSource does.
  let last: string | undefined;
  let stopped = false;
  let current: SseStream | undefined;
  const done = (async () => {
    for (let attempt = 0; !stopped && attempt < 200; attempt++) {
      try {
        current = await openSse(`${baseUrl}/runs/${runId}/events`, {
          headers: { ...headers, ...(last !== undefined ? { 'last-event-id': String(last) } : {}) },
          onEvent: (e, frame) => {
            if (e.type === 'snapshot') snapshots.push(e);
            else if (typeof e.id === 'number') {
              last = frame.id;
              ids.push(e.id);
              messages.push(String(e.message ?? e.type));
            }
          },
        });
        await current.ended;
        if (current.events.some((e) => e.type === 'done')) return;
      } catch {
        // The relay restarts or refuses: retry like EventSource does.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    ids,
    messages,
    snapshots,
    done,
    stop: () => {
      stopped = true;
      current?.close();
    },
  };
}
