import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import type { SseRouterOptions } from '../src/index.js';
import { createSseRouter } from '../src/index.js';

export interface FakeRun {
  id: string;
  workspaceId: string;
  status: string;
  passed: number;
  failed: number;
  total: number;
  durationMs: number | null;
}

export function fakeRun(workspaceId = 'ws1', status = 'running'): FakeRun {
  return {
    id: randomUUID(),
    workspaceId,
    status,
    passed: 0,
    failed: 0,
    total: 10,
    durationMs: null,
  };
}

/** An Express app serving the SSE router over real HTTP; runs live in `runs`. */
export async function startRelayServer(
  opts: Pick<SseRouterOptions, 'events'> & Partial<SseRouterOptions>,
  runs: Map<string, FakeRun>,
  /** Mounted before the router (e.g. one that wraps `res.write`). */
  before?: RequestHandler,
) {
  const router = createSseRouter({
    authorize: (req, runId) => runs.get(runId)?.workspaceId === req.get('x-workspace'),
    snapshot: async (runId) => runs.get(runId),
    ...opts,
  });
  const app = express();
  if (before) app.use(before);
  app.use(router);
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    router,
    url: `http://127.0.0.1:${port}`,
    server,
    close: async () => {
      await router.shutdown({ timeoutMs: 1_000 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export const logEvent = (message: string) => ({ level: 'info' as const, message });

/**
 * A run counter without its TTL refresh stamp (`;~ttl=<ms>`, always last; lua/scripts.ts),
 * for tests that compare the rest exactly. Fails on a counter an append wrote without one.
 */
export function withoutTtlStamp(counter: string | null): string {
  const match = /^(.*);~ttl=\d+$/.exec(counter ?? '');
  if (!match) throw new Error(`counter without a TTL stamp: ${counter}`);
  return match[1]!;
}
