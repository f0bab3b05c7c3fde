import { Agent, request } from 'node:http';
import { openSseFrames } from '@x/testkit';

/**
 * A lean HTTP/SSE client for the system bench: node:http with keep-alive for JSON calls, and
 * SSE streams (testkit's frame reader) that only JSON-parse the frames a waiter asks for. The
 * bench client shares the 2 cores with the four processes it measures, so it must cost as
 * little as possible.
 */
const keepAlive = () => new Agent({ keepAlive: true, maxSockets: 256 });
let jsonAgent = keepAlive();

/**
 * Closes every kept-alive connection and starts a new pool. For a server that was stopped
 * (SIGSTOP) while idle: resumed, it closes the connections whose keep-alive timeout ran out
 * meanwhile, and a request sent on one of them at that moment fails (`socket hang up`).
 */
export function resetKeepAlive(): void {
  jsonAgent.destroy();
  jsonAgent = keepAlive();
}
// Streams are long-lived and never reused; a separate agent keeps them off the JSON pool.
const streamAgent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

export function postJson<T>(
  base: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const url = new URL(`/api/v1${path}`, base);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: jsonAgent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : { 'content-length': 0 }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface LeanStream {
  /** Resolves with the first frame whose raw `data:` text contains `needle` and passes `pred`. */
  waitFor(
    needle: string,
    pred: (data: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>>;
  close(): void;
}

/** Opens `GET /runs/:id/events` with a bearer token, replaying from the start. */
export async function openLeanSse(base: string, runId: string, token: string): Promise<LeanStream> {
  const url = new URL(`/api/v1/runs/${runId}/events?lastEventId=0`, base);
  const seen: string[] = [];
  let waiter: ((data: string) => boolean) | undefined;
  const frames = await openSseFrames(
    url,
    { authorization: `Bearer ${token}` },
    (data) => {
      if (!waiter?.(data)) seen.push(data);
    },
    streamAgent,
  );
  let ended = false;
  let onEnd: (() => void) | undefined;
  void frames.ended.then(() => {
    ended = true;
    onEnd?.();
  });
  return {
    waitFor(needle, pred, timeoutMs) {
      return new Promise((done, fail) => {
        const match = (data: string) => {
          if (!data.includes(needle)) return false;
          const parsed = JSON.parse(data) as Record<string, unknown>;
          if (!pred(parsed)) return false;
          settle();
          done(parsed);
          return true;
        };
        const timer = setTimeout(() => {
          settle();
          fail(new Error(`no ${needle} frame on ${runId} within ${timeoutMs} ms`));
        }, timeoutMs);
        const settle = () => {
          clearTimeout(timer);
          waiter = undefined;
          onEnd = undefined;
        };
        while (seen.length) if (match(seen.shift() as string)) return;
        if (ended) {
          settle();
          fail(new Error(`stream of ${runId} ended without a ${needle} frame`));
          return;
        }
        waiter = match;
        onEnd = () => {
          settle();
          fail(new Error(`stream of ${runId} ended without a ${needle} frame`));
        };
      });
    },
    close: () => frames.close(),
  };
}
