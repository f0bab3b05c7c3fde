import type { z } from 'zod';
import { ConfigError } from './config-error.js';

export interface ParseEnvOptions {
  /** Variables whose values are never echoed, even when malformed (tokens, URLs with passwords). */
  readonly secret?: Iterable<string>;
}

/**
 * Parses `env` with `schema`. On failure throws a {@link ConfigError} whose message is one
 * line naming every bad variable (the first one in `variable`), with the offending value
 * (first 60 characters) unless the variable is secret.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv,
  opts: ParseEnvOptions = {},
): z.output<S> {
  const secret = new Set(opts.secret ?? []);
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const parts = parsed.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? 'environment');
    const got = env[variable];
    const shown =
      secret.has(variable) || got === undefined ? '' : ` (got ${JSON.stringify(got.slice(0, 60))})`;
    return { variable, text: `${variable} ${issue.message}${shown}` };
  });
  throw new ConfigError(
    'invalid',
    parts[0]!.variable,
    `invalid configuration: ${parts.map((p) => p.text).join('; ')}`,
  );
}

/**
 * Runs an app's config loader; a {@link ConfigError} becomes one line on stderr and exit
 * code 2 (a usage error, not a crash). Any other error is rethrown.
 */
export function loadConfigOrExit<T>(load: (env: NodeJS.ProcessEnv) => T): T {
  try {
    return load(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
