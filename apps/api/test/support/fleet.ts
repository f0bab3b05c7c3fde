import { fileURLToPath } from 'node:url';
import { type NodeProcess, spawnNode, waitFor } from '@x/testkit';

export const API_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
export const WORKER_MAIN = fileURLToPath(new URL('../../../worker/src/main.ts', import.meta.url));
export const FLEET_TOKEN = 'fleet-token-aaaaaaaaaaaaaaaa';

/** One Redis server (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`), and PostgreSQL. */
export type FleetEnv = {
  DATABASE_URL: string;
  X_PREFIX: string;
} & ({ REDIS_URL: string } | { REDIS_CLUSTER_NODES: string });

const common = (env: FleetEnv) => ({
  ...env,
  API_TOKENS: `fleet:${FLEET_TOKEN}`,
  STREAM_TOKEN_SECRET: 'fleet-secret-0123456789abcdef0123456789',
  LOG_LEVEL: 'info',
});

const field = (line: string, key: string) => JSON.parse(line)[key] as unknown;

export interface ApiProcess {
  proc: NodeProcess;
  url: string;
}

/** An api replica as a real process (the TypeScript main through tsx), on a free port. */
export async function startApiProcess(
  env: FleetEnv,
  extra: Record<string, string> = {},
): Promise<ApiProcess> {
  const proc = await spawnNode(
    API_MAIN,
    { ...common(env), PORT: '0', HOST: '127.0.0.1', ...extra },
    { readyLine: /"msg":"listening"/, readyTimeoutMs: 60_000 },
  );
  const line = await proc.waitForLine(/"msg":"listening"/);
  return { proc, url: String(field(line, 'url')) };
}

export interface WorkerProcess {
  proc: NodeProcess;
  metricsUrl: string;
}

export async function startWorkerProcess(
  env: FleetEnv,
  extra: Record<string, string> = {},
): Promise<WorkerProcess> {
  const proc = await spawnNode(
    WORKER_MAIN,
    {
      ...common(env),
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      WORKER_CONCURRENCY: '8',
      WORKER_STALLED_MS: '2000',
      ...extra,
    },
    { readyLine: /"msg":"worker ready"/, readyTimeoutMs: 60_000 },
  );
  const line = await proc.waitForLine(/"msg":"worker ready"/);
  return { proc, metricsUrl: `http://127.0.0.1:${field(line, 'metricsPort')}/metrics` };
}

/** A `x_<component>_stat{stat="…"}` value from a /metrics page. */
export async function statOf(metricsUrl: string, component: string, stat: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = new RegExp(`^x_${component}_stat\\{stat="${stat}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

export const activeShards = (w: WorkerProcess) =>
  statOf(w.metricsUrl, 'shard_worker', 'activeShards');

export async function waitActive(w: WorkerProcess, min = 1, timeoutMs = 20_000) {
  await waitFor(async () => (await activeShards(w)) >= min, {
    timeoutMs,
    what: `worker with ${min}+ active shards`,
  });
}

/** SIGTERM (graceful), SIGKILL if it takes longer than `graceMs`. */
export async function stopProcess(proc: NodeProcess, graceMs = 15_000): Promise<void> {
  const timer = setTimeout(() => void proc.kill('SIGKILL'), graceMs);
  await proc.kill('SIGTERM');
  clearTimeout(timer);
}

/**
 * Stops an api replica gracefully and starts it again on the same port, as a restarted
 * replica behind a fixed address: its clients (EventSource) reconnect to the same URL.
 */
export async function restartApiProcess(
  env: FleetEnv,
  api: ApiProcess,
  extra: Record<string, string> = {},
): Promise<ApiProcess> {
  await stopProcess(api.proc);
  return startApiProcess(env, { ...extra, PORT: new URL(api.url).port });
}

/** Two api replicas and two workers as real processes, stopped together. */
export interface Fleet {
  apis: [ApiProcess, ApiProcess];
  workers: WorkerProcess[];
  /** Stops every process gracefully (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

/**
 * Starts the usual fleet of the e2e tests: the first api alone (it migrates the database), then
 * the second api and two workers in parallel.
 */
export async function startFleet(
  env: FleetEnv,
  apiExtra: Record<string, string> = {},
  workerExtra: Record<string, string> = apiExtra,
): Promise<Fleet> {
  const first = await startApiProcess(env, apiExtra);
  const [second, w1, w2] = await Promise.all([
    startApiProcess(env, apiExtra),
    startWorkerProcess(env, workerExtra),
    startWorkerProcess(env, workerExtra),
  ]);
  const fleet: Fleet = {
    apis: [first, second],
    workers: [w1, w2],
    stop: () =>
      Promise.all([...fleet.apis, ...fleet.workers].map((p) => stopProcess(p.proc))).then(() => {}),
  };
  return fleet;
}
