import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP server that keeps every callback body it receives, by run id. */
export interface CallbackReceiver {
  /** The `callbackUrl` to give a run. */
  readonly url: string;
  /** `host:port`, for `CALLBACK_ALLOWED_HOSTS` (loopback is refused otherwise). */
  readonly host: string;
  bodiesOf(runId: string): { runId: string; status: string; error: string | null }[];
  close(): Promise<void>;
}

export async function callbackReceiver(): Promise<CallbackReceiver> {
  const received = new Map<string, { runId: string; status: string; error: string | null }[]>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const parsed = JSON.parse(body) as { runId: string; status: string; error: string | null };
      received.set(parsed.runId, [...(received.get(parsed.runId) ?? []), parsed]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    host: `127.0.0.1:${port}`,
    bodiesOf: (runId) => received.get(runId) ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
