import { createParser } from 'eventsource-parser';

/** One SSE frame as a client sees it. */
export interface SseFrame {
  /** The seq: the leading number of the SSE id. */
  id: number | null;
  /** The SSE id as sent, `<seq>-<epoch>`, to send back verbatim as Last-Event-ID. */
  eventId: string | null;
  data: { type: string; runId: string; [k: string]: unknown };
}

export interface SseStream {
  readonly frames: SseFrame[];
  /** Resolves when the server closes the stream (or the test aborts it). */
  readonly ended: Promise<void>;
  waitFor(pred: (f: SseFrame) => boolean, timeoutMs?: number): Promise<SseFrame>;
  close(): void;
}

/** A minimal EventSource over fetch (no reconnect): keeps every data frame it reads. */
export async function openSse(
  url: string,
  headers: Record<string, string> = {},
): Promise<SseStream> {
  const ctrl = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: ctrl.signal,
  });
  if (res.status !== 200 || !res.body)
    throw new Error(`SSE ${url} answered ${res.status}: ${await res.text()}`);
  const frames: SseFrame[] = [];
  const waiters = new Set<() => void>();
  // Frames are cut by `eventsource-parser`, as EventSource cuts them (CRLF, multi-line data,
  // fields without a space), so a test reads what a browser would read.
  const parser = createParser({
    onEvent: ({ id, data }) => {
      if (!data) return;
      const eventId = id ?? null;
      frames.push({
        id: eventId ? Number(eventId.split('-')[0]) : null,
        eventId,
        data: JSON.parse(data),
      });
      for (const w of [...waiters]) w();
    },
  });
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch (err) {
      if (!ctrl.signal.aborted) throw err;
    } finally {
      for (const w of [...waiters]) w();
    }
  })();
  let done = false;
  void ended.finally(() => {
    done = true;
  });
  return {
    frames,
    ended,
    close: () => ctrl.abort(),
    waitFor(pred, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = frames.find(pred);
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          } else if (done) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(
              new Error(
                `stream ended without the frame; got ${frames.map((f) => f.data.type).join(',')}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching frame in ${timeoutMs} ms; got ${frames.map((f) => f.data.type).join(',')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
