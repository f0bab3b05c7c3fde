import { Agent, request } from 'node:http';

/**
 * A lean HTTP/SSE client for the system bench: node:http with keep-alive for JSON calls, and
 * SSE streams that only JSON-parse the frames a waiter asks for. The bench client shares the
 * 2 cores with the four processes it measures, so it must cost as little as possible.
 */
const jsonAgent = new Agent({ keepAlive: true, maxSockets: 256 });
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
export function openLeanSse(base: string, runId: string, token: string): Promise<LeanStream> {
  const url = new URL(`/api/v1/runs/${runId}/events?lastEventId=0`, base);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      agent: streamAgent,
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE ${url} answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      const seen: string[] = [];
      let buffer = '';
      let ended = false;
      let waiter: ((data: string) => boolean) | undefined;
      let onEnd: (() => void) | undefined;
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut = buffer.indexOf('\n\n');
        while (cut !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const at = block.indexOf('data: ');
          if (at !== -1) {
            const data = block.slice(at + 6);
            if (!waiter?.(data)) seen.push(data);
          }
          cut = buffer.indexOf('\n\n');
        }
      });
      const finish = () => {
        ended = true;
        onEnd?.();
      };
      res.on('end', finish);
      res.on('error', finish);
      resolve({
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
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}
