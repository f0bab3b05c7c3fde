import { createHash } from 'node:crypto';
import { errorMessage } from './redis-replies.js';
import type { StopJobsRedis } from './stream-names.js';

/**
 * Publishes a batch's results and dead letters, trims both streams and acknowledges the
 * entries, all in one Lua script. A script runs atomically like MULTI/EXEC, and it is
 * stricter about the one guarantee that matters: `XACK` is its last command, and a failing
 * `redis.call` stops the script, so an entry is never acknowledged unless its result was
 * written (MULTI/EXEC would go on to the `XACK` after a failed `XADD`).
 *
 * One command per batch instead of ~130 keeps the consumer's CPU (ioredis command objects,
 * encoding, reply decoding, garbage) and the bytes on the wire low: field names live here.
 *
 * KEYS: results stream, dead-letter stream, jobs stream. On a Redis Cluster the three share
 * one hash slot (`stopJobsStreams(prefix, { cluster: true })` tags them), as a script's keys
 * must; the script publishes nothing.
 * ARGV: group, maxLen, result count, dead-letter count, then 6 values per result in
 * RESULT_FIELDS order, then per dead letter its item count followed by its field/value items.
 * The acknowledged ids are the results' `source_entry_id`s (one result per acknowledged entry).
 * Returns the number of entries XACK acknowledged.
 */
export const COMMIT_BATCH_LUA = `
local group, maxLen = ARGV[1], ARGV[2]
local nResults, nDead = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = {}
local i = 5
for r = 1, nResults do
  redis.call('XADD', KEYS[1], '*', 'run_id', ARGV[i], 'outcome', ARGV[i + 1],
    'error_code', ARGV[i + 2], 'error_message', ARGV[i + 3],
    'final_status', ARGV[i + 4], 'source_entry_id', ARGV[i + 5])
  ids[r] = ARGV[i + 5]
  i = i + 6
end
for d = 1, nDead do
  local n = tonumber(ARGV[i])
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', maxLen)
if nDead > 0 then redis.call('XTRIM', KEYS[2], 'MAXLEN', '~', maxLen) end
local acked = 0
for from = 1, nResults, 1000 do
  acked = acked + redis.call('XACK', KEYS[3], group, unpack(ids, from, math.min(from + 999, nResults)))
end
return acked
`;

const SHA = createHash('sha1').update(COMMIT_BATCH_LUA).digest('hex');

/**
 * Runs the script with the 3 keys, then the ARGV described above. EVALSHA, falling back to EVAL once when Redis does not know the script (first use, or a
 * Redis restarted since): EVAL also loads it for the next batch.
 */
export async function runCommitScript(
  redis: Pick<StopJobsRedis, 'call'>,
  keysAndArgs: (string | number)[],
): Promise<number> {
  let reply: unknown;
  try {
    reply = await redis.call('EVALSHA', [SHA, 3, ...keysAndArgs]);
  } catch (error) {
    if (!errorMessage(error).startsWith('NOSCRIPT')) throw error;
    reply = await redis.call('EVAL', [COMMIT_BATCH_LUA, 3, ...keysAndArgs]);
  }
  return Number(reply);
}
