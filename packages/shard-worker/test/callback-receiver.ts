import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST as the receiver saw it. */
export interface ReceivedCallback {
  runId: string;
  idempotencyKey: string | undefined;
  xRunId: string | undefined;
  body: Record<string, unknown>;
  /** The body as sent (a signature covers these exact bytes). */
  raw: string;
  /** `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks), when signed. */
  webhook: Record<string, string>;
}

/** What to do with a request: answer with a status, or hold it open (never answer). */
export type Reply = number | 'hold';

export interface CallbackReceiver {
  url: string;
  host: string;
  /** Every request, in arrival order (held ones included). */
  requests: ReceivedCallback[];
  of(runId: string): ReceivedCallback[];
  /** Decides each reply; `n` is the 1-based count of requests for that run so far. Default 204. */
  reply: (runId: string, n: number) => Reply;
  close(): Promise<void>;
}

/** A loopback callback receiver that records headers, and can fail or hold requests. */
export async function callbackReceiver(): Promise<CallbackReceiver> {
  const held: ServerResponse[] = [];
  const receiver: CallbackReceiver = {
    url: '',
    host: '',
    requests: [],
    of: (runId) => receiver.requests.filter((r) => r.runId === runId),
    reply: () => 204,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const runId = String(body.runId);
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(',') : v;
      };
      receiver.requests.push({
        runId,
        idempotencyKey: header('idempotency-key'),
        xRunId: header('x-run-id'),
        body,
        raw: text,
        webhook: Object.fromEntries(
          ['webhook-id', 'webhook-timestamp', 'webhook-signature'].flatMap((name) => {
            const v = header(name);
            return v === undefined ? [] : [[name, v]];
          }),
        ),
      });
      const reply = receiver.reply(runId, receiver.of(runId).length);
      if (reply === 'hold') held.push(res);
      else res.writeHead(reply).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}/cb`;
  receiver.host = `127.0.0.1:${port}`;
  return receiver;
}
