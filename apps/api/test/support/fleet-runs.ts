import { waitFor } from '@x/testkit';
import { expect } from 'vitest';
import { apiClient, type RunBody } from './api-client.js';
import { type ApiProcess, FLEET_TOKEN } from './fleet.js';
import { openSse, type SseFrame, type SseStream } from './sse-client.js';

/** The fleet token's client of one api replica. */
export const fleetClient = (api: ApiProcess) => apiClient(api.url, FLEET_TOKEN);

/**
 * A run's event stream through `api` with a stream token: from now (no id), or resuming after
 * `lastEventId` (a bare seq, `<seq>-<epoch>` as the server sent it, or 0 for the whole history).
 */
export async function watch(
  api: ApiProcess,
  runId: string,
  lastEventId?: number | string,
): Promise<SseStream> {
  const { token } = (await fleetClient(api).post<{ token: string }>(`/runs/${runId}/stream-token`))
    .body;
  const q = new URLSearchParams({
    st: token,
    ...(lastEventId === undefined ? {} : { lastEventId: String(lastEventId) }),
  });
  return openSse(`${api.url}/api/v1/runs/${runId}/events?${q}`);
}

export async function createRun(api: ApiProcess, body: object): Promise<RunBody> {
  const r = await fleetClient(api).post<{ run: RunBody }>('/runs', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.run;
}

export async function waitTerminal(
  api: ApiProcess,
  runId: string,
  timeoutMs = 60_000,
): Promise<RunBody> {
  return waitFor(
    async () => {
      const run = (await fleetClient(api).get<{ run: RunBody }>(`/runs/${runId}`)).body.run;
      return ['completed', 'failed', 'aborted'].includes(run.status) ? run : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `run ${runId} to finish` },
  );
}

/** Every event of the run from its history (the snapshot left out). */
export async function history(api: ApiProcess, runId: string): Promise<SseFrame[]> {
  const stream = await watch(api, runId, 0);
  await stream.ended;
  return stream.frames.filter((f) => f.data.type !== 'snapshot');
}
