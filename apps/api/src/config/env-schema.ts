import { callbackSecretsEnv, integerEnv, optionalEnv, sharedEnvFields } from '@x/app-kit';
import { z } from 'zod';
import { MAX_STREAM_TOKEN_TTL_MS } from '../auth/stream-token.js';

export type { LogLevel } from '@x/app-kit';

export interface WorkspaceToken {
  readonly workspace: string;
  readonly token: string;
}

/** `workspace:token,workspace:token`: workspaces are short slugs, tokens ≥ 16 characters. */
const apiTokens = z.string().transform((value, ctx): WorkspaceToken[] => {
  const entries: WorkspaceToken[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of value.split(',').entries()) {
    const item = raw.trim();
    if (!item) continue;
    const colon = item.indexOf(':');
    const workspace = colon > 0 ? item.slice(0, colon) : '';
    const token = colon > 0 ? item.slice(colon + 1) : '';
    // Never echo the token itself: this message is printed.
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(workspace)) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i + 1} must be workspace:token with workspace matching [A-Za-z0-9_-]{1,64}`,
      });
      return z.NEVER;
    }
    if (token.length < 16 || /\s/.test(token)) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i + 1} (workspace ${workspace}) needs a token of at least 16 non-blank characters`,
      });
      return z.NEVER;
    }
    if (seen.has(token)) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} repeats a token` });
      return z.NEVER;
    }
    seen.add(token);
    entries.push({ workspace, token });
  }
  if (entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must list at least one workspace:token' });
    return z.NEVER;
  }
  return entries;
});

/**
 * Every variable the api reads, validated in one place. Values never leave this module
 * unparsed; messages never echo secrets.
 */
export const apiEnvSchema = z.object({
  PORT: optionalEnv(integerEnv(0, 65535)),
  HOST: sharedEnvFields.HOST,
  REDIS_URL: sharedEnvFields.REDIS_URL,
  REDIS_CLUSTER_NODES: sharedEnvFields.REDIS_CLUSTER_NODES,
  DATABASE_URL: sharedEnvFields.DATABASE_URL,
  DATABASE_POOL_MAX: sharedEnvFields.DATABASE_POOL_MAX,
  DATABASE_PREPARED_STATEMENTS: sharedEnvFields.DATABASE_PREPARED_STATEMENTS,
  DATA_DIR: optionalEnv(z.string().min(1)).transform((v) => v ?? './.data'),
  API_TOKENS: optionalEnv(apiTokens),
  STREAM_TOKEN_SECRET: optionalEnv(z.string().min(32, 'must be at least 32 characters')),
  /** Stream-token lifetime, ms: at least 1 s (time to connect), at most the contract's 5 minutes. */
  STREAM_TOKEN_TTL_MS: optionalEnv(integerEnv(1_000, MAX_STREAM_TOKEN_TTL_MS)).transform(
    (v) => v ?? MAX_STREAM_TOKEN_TTL_MS,
  ),
  X_PREFIX: sharedEnvFields.X_PREFIX,
  WORKER_CONCURRENCY: sharedEnvFields.WORKER_CONCURRENCY,
  REPAIR_INTERVAL_MS: sharedEnvFields.REPAIR_INTERVAL_MS,
  QUEUE_PARTITIONS: sharedEnvFields.QUEUE_PARTITIONS,
  SHARD_QUEUE: sharedEnvFields.SHARD_QUEUE,
  RUN_RETENTION_DAYS: sharedEnvFields.RUN_RETENTION_DAYS,
  RETENTION_SWEEP_INTERVAL_MS: sharedEnvFields.RETENTION_SWEEP_INTERVAL_MS,
  DISPATCH_MODE: sharedEnvFields.DISPATCH_MODE,
  DISPATCH_WINDOW: sharedEnvFields.DISPATCH_WINDOW,
  WORKSPACE_MAX_RUNNING_SHARDS: sharedEnvFields.WORKSPACE_MAX_RUNNING_SHARDS,
  WORKSPACE_LIMITS: sharedEnvFields.WORKSPACE_LIMITS,
  EVENT_BUFFER_MAX_EVENTS: sharedEnvFields.EVENT_BUFFER_MAX_EVENTS,
  EVENT_BUFFER_MAX_BYTES: sharedEnvFields.EVENT_BUFFER_MAX_BYTES,
  HTTP_ALLOWED_HOSTS: sharedEnvFields.HTTP_ALLOWED_HOSTS,
  CALLBACK_ALLOWED_HOSTS: sharedEnvFields.CALLBACK_ALLOWED_HOSTS,
  /** `workspace:whsec_…,…`: the secret signing each workspace's callbacks (Standard Webhooks). */
  CALLBACK_SECRETS: callbackSecretsEnv(),
  /** `production` refuses a `callbackUrl` from a workspace without a callback secret. */
  NODE_ENV: optionalEnv(z.string()),
  LOG_LEVEL: sharedEnvFields.LOG_LEVEL,
  /** `/metrics` on its own listener (same HOST) and off the api port. Default: on the api port. */
  METRICS_PORT: sharedEnvFields.METRICS_PORT,
  /** When set, `/metrics` wants `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: optionalEnv(
    z.string().min(16, 'must be at least 16 characters').regex(/^\S+$/, 'must not contain blanks'),
  ),
  /** Open SSE streams per process. Default 5,000. */
  SSE_MAX_STREAMS: optionalEnv(integerEnv(1, 1_000_000)).transform((v) => v ?? 5_000),
  /** Open SSE streams per workspace, per process. Default 100. */
  SSE_MAX_STREAMS_PER_WORKSPACE: optionalEnv(integerEnv(1, 1_000_000)).transform((v) => v ?? 100),
  /** A stream whose unsent bytes do not drain for this long is cut off (it resumes). Default 30 s. */
  SSE_STALL_TIMEOUT_MS: optionalEnv(integerEnv(100, 3_600_000)).transform((v) => v ?? 30_000),
  /** `POST /runs` per workspace per minute, across the fleet. Default 600; 0 turns it off. */
  RATE_LIMIT_CREATES_PER_MIN: optionalEnv(integerEnv(0, 10_000_000)).transform((v) => v ?? 600),
  /** `/api/v1` requests per workspace per second, across the fleet. Default 200; 0 turns it off. */
  RATE_LIMIT_REQUESTS_PER_S: optionalEnv(integerEnv(0, 10_000_000)).transform((v) => v ?? 200),
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;
