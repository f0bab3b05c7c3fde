import { z } from 'zod';
import { optionalEnv } from './optional-env.js';

/** One workspace's own share (fair dispatch), as `WORKSPACE_LIMITS` gives it. */
export interface WorkspaceLimitEntry {
  readonly workspaceId: string;
  /** Its released-not-finished shards at most; unset: `WORKSPACE_MAX_RUNNING_SHARDS`. */
  readonly maxShards?: number;
  /** Its share of each dispatch round, 1–100; unset: 1. */
  readonly weight?: number;
}

const KEYS = { shards: [1, 1_000_000], weight: [1, 100] } as const;

/**
 * `WORKSPACE_LIMITS=ws-a:shards=8:weight=2,ws-b:weight=3`: per-workspace overrides of the fair
 * share. A malformed entry stops the process naming the entry (position and workspace) and
 * what is wrong with it. Unset: none.
 */
export const workspaceLimitsEnv = () =>
  optionalEnv(
    z.string().transform((value, ctx): readonly WorkspaceLimitEntry[] => {
      const entries: WorkspaceLimitEntry[] = [];
      const seen = new Set<string>();
      for (const [i, raw] of value.split(',').entries()) {
        const item = raw.trim();
        if (!item) continue;
        const [workspaceId = '', ...pairs] = item.split(':');
        const fail = (message: string) => {
          ctx.addIssue({
            code: 'custom',
            message: `entry ${i + 1} (${item.slice(0, 40)}) ${message}`,
          });
          return z.NEVER;
        };
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(workspaceId))
          return fail('must start with a workspace matching [A-Za-z0-9_-]{1,64}');
        if (pairs.length === 0)
          return fail('needs shards=<n> and/or weight=<n> after the workspace');
        if (seen.has(workspaceId)) return fail(`repeats workspace ${workspaceId}`);
        seen.add(workspaceId);
        const entry: { workspaceId: string; maxShards?: number; weight?: number } = { workspaceId };
        for (const pair of pairs) {
          const [key, v] = pair.split('=');
          if (key !== 'shards' && key !== 'weight')
            return fail(`has unknown key ${JSON.stringify(key)} (known: shards, weight)`);
          const [min, max] = KEYS[key];
          if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
            return fail(`${key} must be an integer between ${min} and ${max}`);
          if (key === 'shards') entry.maxShards = Number(v);
          else entry.weight = Number(v);
        }
        entries.push(entry);
      }
      return entries;
    }),
  ).transform((v): readonly WorkspaceLimitEntry[] => v ?? []);
