import { z } from 'zod';

/** Levels pino understands; `silent` turns logging off (tests, benchmarks). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** An empty variable counts as unset: `FOO= node main.js` must not mean "FOO is ''". */
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

/** A comma-separated list of host names (or IP literals); blanks are dropped. */
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
  PORT: optional(integer(0, 65535)),
  HOST: optional(z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address')),
  REDIS_URL: optional(urlWithProtocol(['redis:', 'rediss:'], 'redis://host:6379')),
  DATABASE_URL: optional(
    urlWithProtocol(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db'),
  ),
  DATA_DIR: optional(z.string().min(1)).transform((v) => v ?? './.data'),
  API_TOKENS: optional(apiTokens),
  STREAM_TOKEN_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
  X_PREFIX: optional(
    z.string().regex(/^[a-z0-9_-]{1,32}$/, 'must match [a-z0-9_-]{1,32}'),
  ).transform((v) => v ?? 'x'),
  WORKER_CONCURRENCY: optional(integer(1, 1024)).transform((v) => v ?? 8),
  HTTP_ALLOWED_HOSTS: hostList,
  CALLBACK_ALLOWED_HOSTS: hostList,
  LOG_LEVEL: optional(
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
  ).transform((v) => v ?? 'info'),
  METRICS_PORT: optional(integer(0, 65535)),
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;
