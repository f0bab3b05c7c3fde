import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventLog, StoredEvent } from '@x/sse-relay';
import type { CallbackPayload } from '../src/index.js';

export interface CallbackServer {
  url: string;
  host: string;
  /** runId -> bodies received */
  received: Map<string, CallbackPayload[]>;
  /** runId -> the `Idempotency-Key` of each POST, in arrival order */
  keys: Map<string, (string | undefined)[]>;
  hits: number;
  close(): Promise<void>;
}

/** A loopback HTTP server that counts callback POSTs per run. */
export async function callbackServer(
  handler?: (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ) => boolean,
): Promise<CallbackServer> {
  const received: CallbackServer['received'] = new Map();
  const keys: CallbackServer['keys'] = new Map();
  const state = { hits: 0 };
  const server: Server = createServer((req, res) => {
    state.hits++;
    if (handler?.(req, res)) return;
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      try {
        const parsed = JSON.parse(body);
        const list = received.get(parsed.runId) ?? [];
        list.push(parsed);
        received.set(parsed.runId, list);
        const key = req.headers['idempotency-key'];
        keys.set(parsed.runId, [...(keys.get(parsed.runId) ?? []), key?.toString()]);
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/cb`,
    host: `127.0.0.1:${port}`,
    received,
    keys,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function eventsOf(log: EventLog, runId: string): Promise<StoredEvent[]> {
  return (await log.read(runId, 0, 100_000)).events;
}

export function parse(event: StoredEvent): Record<string, unknown> {
  return JSON.parse(event.json) as Record<string, unknown>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
