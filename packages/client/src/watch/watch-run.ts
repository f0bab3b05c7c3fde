import { backoffDelay, sleep } from '@x/kernel';
import type { RunEventType } from '@x/protocol';
import type { EventSourceMessage } from 'eventsource-parser';
import type { HttpTransport } from '../http-transport.js';
import type { RunEvent } from '../run-event.js';
import { errorFromResponse, isTransient, XClientError } from '../x-client-error.js';
import { isAfter } from './event-id.js';
import { sseMessages } from './sse-messages.js';
import { StreamTokens } from './stream-tokens.js';

export interface WatchOptions {
  /** Stops the watch: the open request is aborted and the iteration ends (without an error). */
  signal?: AbortSignal;
  /**
   * Resume after this SSE id (an `event.id` from an earlier watch): only later events are
   * yielded. Default `'0'`: the run's whole history is replayed, then live events follow.
   */
  lastEventId?: string;
  /**
   * Reconnect when no byte arrived for this long (and give up a connection attempt that got no
   * answer in this long). Default 30,000 ms: the server sends a heartbeat comment every 5 s, so
   * a silent connection is a dead one that never closed.
   */
  idleTimeoutMs?: number;
}

/** Every frame type: a type `@x/protocol` adds and this table lacks fails to compile. */
const KNOWN_TYPES: Readonly<Record<RunEventType, true>> = {
  snapshot: true,
  status: true,
  shard: true,
  result: true,
  progress: true,
  log: true,
  done: true,
  // The workspace feed's (`GET /events`); a run's own stream never sends it.
  run: true,
};

/** Reconnect delays: from the server's `retry:` hint (1 s until one arrives) up to 30 s. */
const MAX_DELAY_MS = 30_000;

/** An event stream to follow: where it is, how its stream tokens are minted, extra query. */
export interface StreamTarget {
  path: string;
  tokens: StreamTokens;
  query?: Record<string, string | readonly string[] | undefined>;
  /** Without `lastEventId`, start with live events (true) rather than the whole history. */
  liveFirst?: boolean;
}

/**
 * `runs.watch`: the run's events over as many SSE connections as it takes. Each connection
 * trades the bearer for a stream token (refreshed before it expires, and after a 401), resumes
 * after the last id yielded, and drops any event at or before it; the watch ends after `done`.
 */
export function watchRun(
  http: HttpTransport,
  runId: string,
  opts: WatchOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const path = `/runs/${encodeURIComponent(runId)}`;
  return watchStream(
    http,
    { path: `${path}/events`, tokens: new StreamTokens(http, `${path}/stream-token`) },
    opts,
  );
}

/**
 * `watchRun`'s loop for any event stream with the per-run stream's rules (the workspace feed
 * too): stream tokens, resume after the last id yielded, reconnects with backoff; it ends
 * after a `done`, or never if the stream sends none.
 */
export async function* watchStream(
  http: HttpTransport,
  target: StreamTarget,
  opts: WatchOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const outer = opts.signal;
  if (outer?.aborted) return;
  // Aborted by the caller's signal and when the consumer leaves the loop: either way the open
  // request must go, not only the iteration.
  const stop = new AbortController();
  const onAbort = () => stop.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  const { tokens, path } = target;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  // The resume point sent to the server, and the id of the last event yielded (dedupe).
  let resumeFrom = opts.lastEventId ?? (target.liveFirst ? undefined : '0');
  let last: string | undefined = resumeFrom;
  let retryHintMs: number | undefined;
  let failures = 0;

  try {
    while (!stop.signal.aborted) {
      const conn = new AbortController();
      const abortConn = () => conn.abort(stop.signal.reason);
      stop.signal.addEventListener('abort', abortConn, { once: true });
      // Until the stream's headers arrive, the same bound: a request on a connection that died
      // silently (a pooled keep-alive socket behind a dead NAT entry) never answers otherwise.
      const connectTimer = setTimeout(
        () => conn.abort(new Error(`no answer in ${idleTimeoutMs} ms`)),
        idleTimeoutMs,
      );
      try {
        const { token, fresh } = await tokens.get(conn.signal);
        // `?lastEventId=` rather than the header, and the token in the query: a GET without
        // custom headers needs no CORS preflight, on every reconnect.
        const res = await http.send(path, {
          query: { ...target.query, st: token, lastEventId: resumeFrom },
          headers: { accept: 'text/event-stream' },
          anonymous: true,
          signal: conn.signal,
        });
        clearTimeout(connectTimer);
        if (res.status === 401) {
          // Only frees the connection; a body that fails to cancel changes nothing here.
          await res.body?.cancel().catch(() => {});
          tokens.invalidate();
          // An aged token (or a restarted api with a new secret): a new one at once. A token
          // minted a moment ago and refused is not a matter of age: back off.
          if (!fresh) continue;
        } else if (!res.ok) {
          const err = await errorFromResponse(res);
          if (!isTransient(err)) throw err;
        } else {
          if (!res.body || !isEventStream(res)) {
            throw new XClientError('invalid_response', `${path} did not answer an event stream`, {
              status: res.status,
            });
          }
          const messages = sseMessages(res.body, {
            onRetry: (ms) => {
              retryHintMs = ms;
            },
            onIdle: () => conn.abort(new Error(`no data for ${idleTimeoutMs} ms`)),
            idleTimeoutMs,
          });
          for await (const message of messages) {
            const event = parseEvent(message, path);
            if (!event) continue;
            if (event.type === 'snapshot') {
              failures = 0;
              // The server's numbering may have started over (an in-memory history lost in a
              // restart): after this snapshot, ids are compared only with each other.
              if (event.recovered === false) last = undefined;
              yield event;
              continue;
            }
            if (message.id !== undefined) {
              if (!isAfter(message.id, last)) continue;
              last = message.id;
              resumeFrom = message.id;
            }
            yield event;
            if (event.type === 'done') return;
          }
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        // A connection aborted by the idle timer is a drop like any other.
        if (!conn.signal.aborted && !isTransient(err)) throw err;
      } finally {
        clearTimeout(connectTimer);
        stop.signal.removeEventListener('abort', abortConn);
        conn.abort();
      }
      failures++;
      const delay = backoffDelay(failures, {
        initialMs: retryHintMs ?? 1_000,
        maxMs: MAX_DELAY_MS,
      });
      await sleep(delay, { signal: stop.signal }).catch(() => {
        // Aborted while waiting: the loop condition ends the watch.
      });
    }
  } finally {
    outer?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}

function isEventStream(res: Response): boolean {
  return (res.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
}

/** A frame's `data:` as a typed event; undefined for a type this client does not know. */
function parseEvent(message: EventSourceMessage, path: string): RunEvent | undefined {
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch (err) {
    throw new XClientError('invalid_response', `${path} sent a frame that is not JSON`, {
      status: 200,
      cause: err,
    });
  }
  const type = (data as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(KNOWN_TYPES, type)) return undefined;
  if (type === 'snapshot') return data as RunEvent;
  return (message.id === undefined ? data : { ...(data as object), id: message.id }) as RunEvent;
}
