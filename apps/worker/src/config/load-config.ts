import { z } from 'zod';
import { ConfigError } from './config-error.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// Kept in step with apps/api/src/config/env-schema.ts (apps do not import each other).
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const urlWithProtocol = (protocols: readonly string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL like ${example}` },
  );
const hostList = optional(
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^(\[[0-9a-f:.]+\](:\d{1,5})?|[a-z0-9.-]+(:\d{1,5})?|[0-9a-f:.]+)$/,
            'must be a comma-separated list of host or host:port entries',
          ),
      ),
    ),
).transform((v) => v ?? []);

export const workerEnvSchema = z.object({
  REDIS_URL: optional(urlWithProtocol(['redis:', 'rediss:'], 'redis://host:6379')),
  DATABASE_URL: optional(
    urlWithProtocol(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db'),
  ),
  HOST: optional(z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address')),
  X_PREFIX: optional(z.string().regex(/^[a-z0-9_-]{1,32}$/, 'must match [a-z0-9_-]{1,32}')),
  WORKER_CONCURRENCY: optional(integer(1, 1024)),
  HTTP_ALLOWED_HOSTS: hostList,
  CALLBACK_ALLOWED_HOSTS: hostList,
  LOG_LEVEL: optional(z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })),
  METRICS_PORT: optional(integer(0, 65535)),
  WORKER_STALLED_MS: optional(integer(1000, 600_000)),
});

export interface WorkerConfig {
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly host: string;
  readonly prefix: string;
  readonly concurrency: number;
  readonly httpAllowedHosts: readonly string[];
  readonly callbackAllowedHosts: readonly string[];
  readonly logLevel: LogLevel;
  readonly metricsPort: number;
  /**
   * BullMQ lock duration and stalled-check interval: how soon a dead worker's shards are
   * taken over. Default 30,000 (BullMQ's); lower means faster recovery but a worker whose
   * event loop blocks longer than this loses its shard to another worker.
   */
  readonly stalledMs: number;
}

const SECRET = new Set(['REDIS_URL', 'DATABASE_URL']);

/** Parses the worker's environment; throws a one-line {@link ConfigError} naming the variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const parsed = workerEnvSchema.safeParse(env);
  if (!parsed.success) {
    const parts = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'environment');
      const got = env[variable];
      const shown =
        SECRET.has(variable) || got === undefined
          ? ''
          : ` (got ${JSON.stringify(got.slice(0, 60))})`;
      return { variable, text: `${variable} ${issue.message}${shown}` };
    });
    throw new ConfigError(
      'invalid',
      parts[0]!.variable,
      `invalid configuration: ${parts.map((p) => p.text).join('; ')}`,
    );
  }
  const e = parsed.data;
  // The worker only exists in the distributed mode: embedded mode runs it inside the api.
  for (const name of ['REDIS_URL', 'DATABASE_URL'] as const) {
    if (!e[name]) {
      throw new ConfigError(
        'missing',
        name,
        `invalid configuration: ${name} is required (the worker runs only in distributed mode; embedded mode runs it inside the api)`,
      );
    }
  }
  return {
    redisUrl: e.REDIS_URL!,
    databaseUrl: e.DATABASE_URL!,
    host: e.HOST ?? '0.0.0.0',
    prefix: e.X_PREFIX ?? 'x',
    concurrency: e.WORKER_CONCURRENCY ?? 8,
    httpAllowedHosts: e.HTTP_ALLOWED_HOSTS,
    callbackAllowedHosts: e.CALLBACK_ALLOWED_HOSTS,
    logLevel: e.LOG_LEVEL ?? 'info',
    metricsPort: e.METRICS_PORT ?? 9464,
    stalledMs: e.WORKER_STALLED_MS ?? 30_000,
  };
}
