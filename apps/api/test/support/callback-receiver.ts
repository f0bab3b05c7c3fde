import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

interface CallbackBody {
  runId: string;
  status: string;
  error: string | null;
}

/** One request as it arrived: the exact bytes, the Standard Webhooks headers and `traceparent`. */
export interface ReceivedRequest {
  raw: string;
  headers: Record<string, string>;
  /** What the receiver answered: 204 accepted, 401 signature refused. */
  answered: number;
}

/** A loopback HTTP server that keeps every callback body it receives, by run id. */
export interface CallbackReceiver {
  /** The `callbackUrl` to give a run. */
  readonly url: string;
  /** `host:port`, for `CALLBACK_ALLOWED_HOSTS` (loopback is refused otherwise). */
  readonly host: string;
  /** Accepted bodies (verified ones, when the receiver has a secret). */
  bodiesOf(runId: string): CallbackBody[];
  /** The `Idempotency-Key` of each accepted callback of a run, in arrival order. */
  keysOf(runId: string): string[];
  /** Every request, accepted or not, in arrival order. */
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

const SIGNATURE_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
/** Kept besides the signature: the W3C trace context a traced sender propagates. */
const RECORDED_HEADERS = [...SIGNATURE_HEADERS, 'traceparent'] as const;

/**
 * With `secret`, the receiver does what a real one must: it verifies every callback with the
 * `standardwebhooks` verifier over the raw body and refuses (401) any that fails (unsigned,
 * tampered, signed with another secret, or too old).
 */
export async function callbackReceiver(secret?: string): Promise<CallbackReceiver> {
  const verifier = secret ? new Webhook(secret) : undefined;
  const received = new Map<string, CallbackBody[]>();
  const keys = new Map<string, string[]>();
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
    });
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const name of RECORDED_HEADERS) {
        const v = req.headers[name];
        if (typeof v === 'string') headers[name] = v;
      }
      let parsed: CallbackBody;
      try {
        parsed = (verifier ? verifier.verify(raw, headers) : JSON.parse(raw)) as CallbackBody;
      } catch {
        requests.push({ raw, headers, answered: 401 });
        res.writeHead(401).end();
        return;
      }
      requests.push({ raw, headers, answered: 204 });
      received.set(parsed.runId, [...(received.get(parsed.runId) ?? []), parsed]);
      const key = String(req.headers['idempotency-key'] ?? '');
      keys.set(parsed.runId, [...(keys.get(parsed.runId) ?? []), key]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    host: `127.0.0.1:${port}`,
    bodiesOf: (runId) => received.get(runId) ?? [],
    keysOf: (runId) => keys.get(runId) ?? [],
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
