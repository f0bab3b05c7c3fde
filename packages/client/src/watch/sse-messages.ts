import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { XClientError } from '../x-client-error.js';

export interface SseHooks {
  /** The server's `retry:` hint, ms. */
  onRetry(ms: number): void;
  /**
   * Called when no byte (frame or heartbeat comment) arrived for `idleTimeoutMs` while the
   * consumer was waiting for one: the connection is dead without having closed (a cut cable,
   * a NAT that forgot it). Time the consumer spends on a yielded message does not count.
   */
  onIdle(): void;
  idleTimeoutMs: number;
}

/** A frame larger than this is not one of ours: stop instead of buffering without bound. */
const MAX_FRAME_CHARS = 4 * 1024 * 1024;

/**
 * The messages of an SSE response body, parsed by `eventsource-parser`. Reads with
 * `getReader()` (Safari's streams are not async-iterable); leaving the loop cancels the body.
 */
export async function* sseMessages(
  body: ReadableStream<Uint8Array>,
  hooks: SseHooks,
): AsyncGenerator<EventSourceMessage, void, undefined> {
  const queue: EventSourceMessage[] = [];
  let overflow = false;
  const parser = createParser({
    onEvent: (message) => queue.push(message),
    onRetry: hooks.onRetry,
    onError: (err) => {
      // Unknown fields are ignored, as EventSource ignores them; only an overflow is fatal.
      if (err.type === 'max-buffer-size-exceeded') overflow = true;
    },
    maxBufferSize: MAX_FRAME_CHARS,
  });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const idle = setTimeout(hooks.onIdle, hooks.idleTimeoutMs);
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } finally {
        clearTimeout(idle);
      }
      const { done, value } = chunk;
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      if (overflow) {
        throw new XClientError(
          'invalid_response',
          `an SSE frame exceeded ${MAX_FRAME_CHARS} characters`,
          {
            status: 200,
          },
        );
      }
      while (queue.length > 0) yield queue.shift() as EventSourceMessage;
    }
  } finally {
    // Closes the connection when the consumer stops early (done, abort, error). A body that
    // already failed rejects the cancel too: that failure is the one already being reported.
    reader.cancel().catch(() => {});
  }
}
