import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** A Lua script with its SHA1, run by `runScript`. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
  readonly keys: number;
}

export function luaScript(lua: string, keys: number): LuaScript {
  return { lua, keys, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * EVALSHA, falling back to EVAL once when Redis does not know the script (first use, or a
 * Redis restarted since): EVAL also loads it for the next call. One command either way on
 * the happy path; `call` routes by the first key on a cluster.
 */
export async function runScript(
  redis: Redis | Cluster,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.call('EVALSHA', script.sha, script.keys, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.call('EVAL', script.lua, script.keys, ...keys, ...args);
  }
}
