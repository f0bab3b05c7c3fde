import type { Cluster, Redis } from 'ioredis';
import type { RedisQueueKeys } from './redis-queue-keys.js';
import { REDIS_QUEUE_GROUP } from './redis-queue-keys.js';
import { DONE_LUA } from './redis-queue-lua.js';
import { retryRedisWrite } from './redis-retry.js';
import { luaScript, runScript } from './redis-script.js';

const DONE = luaScript(DONE_LUA, 2);
/** Entries per script call: Lua's `unpack` takes a few thousand values at most. */
const MAX_BATCH = 500;

interface Batch {
  /** Entry id and job id per delivery. */
  args: string[];
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

export interface DoneBatch {
  /** Resolves once the delivery's entry is acknowledged and the job forgotten. */
  finish(entryId: string, jobId: string): Promise<void>;
}

/**
 * Collects the deliveries of one partition that finish in the same turn of the event loop
 * and settles them in one script call (HMGET, XACK, XDEL, HDEL for all of them): with many
 * jobs in flight, completions bunch up, and each batch costs 5 commands whatever its size.
 */
export function doneBatch(
  redis: Redis | Cluster,
  keys: RedisQueueKeys,
  onError: (err: unknown) => void,
): DoneBatch {
  let pending: Batch | undefined;

  const flush = async (batch: Batch) => {
    try {
      await retryRedisWrite(
        () => runScript(redis, DONE, [keys.stream, keys.jobs], [REDIS_QUEUE_GROUP, ...batch.args]),
        { onError },
      );
      for (const w of batch.waiters) w.resolve();
    } catch (err) {
      for (const w of batch.waiters) w.reject(err);
    }
  };

  return {
    finish(entryId, jobId) {
      return new Promise<void>((resolve, reject) => {
        if (!pending || pending.waiters.length >= MAX_BATCH) {
          const batch: Batch = { args: [], waiters: [] };
          pending = batch;
          setImmediate(() => {
            if (pending === batch) pending = undefined;
            void flush(batch);
          });
        }
        pending.args.push(entryId, jobId);
        pending.waiters.push({ resolve, reject });
      });
    },
  };
}
