import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type NodeProcess, spawnNode } from '@x/testkit';

const require = createRequire(import.meta.url);
/** The built mains (turbo builds @x/api and @x/worker first: they are devDependencies). */
const API_MAIN = join(dirname(require.resolve('@x/api/package.json')), 'dist/main.js');
const WORKER_MAIN = join(dirname(require.resolve('@x/worker/package.json')), 'dist/main.js');

export const TOKEN = 'client-test-token-0123456789';
const SECRET = 'client-test-secret-0123456789abcdef0123';

export interface ApiProcess {
  proc: NodeProcess;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** SIGTERM (graceful), SIGKILL if it takes longer than 15 s. */
export async function stopProcess(proc: NodeProcess): Promise<void> {
  const timer = setTimeout(() => void proc.kill('SIGKILL'), 15_000);
  await proc.kill('SIGTERM');
  clearTimeout(timer);
}

/**
 * An api process from its build, on `port` (0: a free one). Embedded mode unless `env` has
 * REDIS_URL. STREAM_TOKEN_SECRET is unset by default: a restart then mints a new secret, as a
 * real embedded restart does, and old tokens are refused (401).
 */
export async function startApi(env: Record<string, string>, port = 0): Promise<ApiProcess> {
  const proc = await spawnNode(
    API_MAIN,
    {
      REDIS_URL: '',
      DATABASE_URL: '',
      STREAM_TOKEN_SECRET: '',
      STREAM_TOKEN_TTL_MS: '',
      API_TOKENS: `client:${TOKEN}`,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      ...env,
    },
    { readyLine: /"msg":"listening"/, readyTimeoutMs: 90_000 },
  );
  const url = String(JSON.parse(await proc.waitForLine(/"msg":"listening"/)).url);
  return { proc, url, port: Number(new URL(url).port), stop: () => stopProcess(proc) };
}

export const distributedEnv = (redisUrl: string, databaseUrl: string, prefix: string) => ({
  REDIS_URL: redisUrl,
  DATABASE_URL: databaseUrl,
  X_PREFIX: prefix,
  STREAM_TOKEN_SECRET: SECRET,
});

export async function startWorker(env: Record<string, string>): Promise<NodeProcess> {
  return spawnNode(
    WORKER_MAIN,
    {
      API_TOKENS: `client:${TOKEN}`,
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
      WORKER_CONCURRENCY: '8',
      LOG_LEVEL: 'info',
      ...env,
    },
    { readyLine: /"msg":"worker ready"/, readyTimeoutMs: 60_000 },
  );
}

/** A DATA_DIR of its own, removed by `remove()`. */
export function tempDataDir(label: string) {
  const dir = mkdtempSync(join(tmpdir(), `x-client-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `x_<component>_stat{stat="…"}` from the api's /metrics. */
export async function statOf(apiUrl: string, component: string, stat: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const m = new RegExp(`^x_${component}_stat\\{stat="${stat}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** `n` demo tests of `durationMs` each, every `failEvery`-th failing. */
export function demoTests(n: number, durationMs: number, failEvery = 0) {
  return Array.from({ length: n }, (_, i) => ({
    name: `test ${i + 1}`,
    durationMs,
    ...(failEvery > 0 && (i + 1) % failEvery === 0 ? { outcome: 'fail' as const } : {}),
  }));
}
