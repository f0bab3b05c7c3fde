/**
 * The Lua scripts of the Redis shard queue (`redisShardQueue`). Every script touches the keys
 * of one partition only (`RedisQueueKeys`, one hash slot on a cluster) and is atomic, so a
 * job is always in exactly one place: an entry of the stream (waiting, or pending in the
 * consumer group = active), the delayed ZSET (a retry's backoff) or failed and kept, with
 * the `jobs` hash saying which (`s:<entry id>`, `d:<a>,<s>,<m>,<b>|<data>`, `f`).
 *
 * A stream entry carries the whole job: `j` id, `a` failed attempts so far, `s` stalls so far,
 * `m` max attempts, `b` backoff base (ms), `r` 1 when started before, `d` the payload.
 * Ids in the hash decide ownership: a script acting on an entry that is no longer the job's
 * current one (`s:<that entry>`) only acknowledges and deletes that entry, nothing else.
 *
 * Every `redis.call` counts in INFO commandstats: the happy path is one script per add batch
 * (HMGET, one XADD per job, HSET), one XREADGROUP per fetch batch and one script per batch of
 * finished jobs (HMGET, XACK, XDEL, HDEL).
 */

const HELPERS = `
local function xadd(stream, j, a, s, m, b, r, d)
  return redis.call('XADD', stream, '*', 'j', j, 'a', a, 's', s, 'm', m, 'b', b, 'r', r, 'd', d)
end
local function failJob(jobs, failed, id, now, keep)
  redis.call('HSET', jobs, id, 'f')
  redis.call('ZADD', failed, now, id)
  local over = redis.call('ZCARD', failed) - keep
  if over > 0 then
    local old = redis.call('ZPOPMIN', failed, over)
    local ids = {}
    for i = 1, #old, 2 do ids[#ids + 1] = old[i] end
    local cur = redis.call('HMGET', jobs, unpack(ids))
    local del = {}
    for i = 1, #ids do if cur[i] == 'f' then del[#del + 1] = ids[i] end end
    if #del > 0 then redis.call('HDEL', jobs, unpack(del)) end
  end
end
`;

/**
 * KEYS: stream, jobs. ARGV: max attempts, backoff ms, then id and payload per job.
 * Adds the jobs whose id the hash does not hold (in any state); returns how many.
 */
export const ADD_LUA = `${HELPERS}
local m, b = ARGV[1], ARGV[2]
local ids = {}
for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local have = redis.call('HMGET', KEYS[2], unpack(ids))
local set = {}
for k = 1, #ids do
  if not have[k] then
    local e = xadd(KEYS[1], ids[k], 0, 0, m, b, 0, ARGV[2 + 2 * k])
    set[#set + 1] = ids[k]
    set[#set + 1] = 's:' .. e
  end
end
if #set > 0 then redis.call('HSET', KEYS[2], unpack(set)) end
return #set / 2
`;

/**
 * KEYS: stream, jobs. ARGV: group, then entry id and job id per finished delivery.
 * Acknowledges and deletes the entries, and forgets the jobs they still stand for.
 */
export const DONE_LUA = `
local eids, ids = {}, {}
for i = 2, #ARGV, 2 do
  eids[#eids + 1] = ARGV[i]
  ids[#ids + 1] = ARGV[i + 1]
end
local cur = redis.call('HMGET', KEYS[2], unpack(ids))
redis.call('XACK', KEYS[1], ARGV[1], unpack(eids))
redis.call('XDEL', KEYS[1], unpack(eids))
local del = {}
for k = 1, #ids do if cur[k] == 's:' .. eids[k] then del[#del + 1] = ids[k] end end
if #del > 0 then redis.call('HDEL', KEYS[2], unpack(del)) end
return #del
`;

/**
 * KEYS: stream, jobs, delayed, failed. ARGV: group, entry id, job id, action, a, s, m, b, r,
 * payload, time (ms: the retry's due time, or now), failed jobs kept.
 * Ends one delivery other than by success: `retry` (to the delayed ZSET, `a` already counts
 * the failed attempt), `requeue` (a fresh entry at the stream's end, attempt unchanged) or
 * `fail` (kept as failed, the oldest beyond the bound forgotten). Returns 0 when the entry
 * no longer stands for the job (a reaper re-issued it, or it was removed).
 */
export const SETTLE_LUA = `${HELPERS}
local g, eid, id, action = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cur = redis.call('HGET', KEYS[2], id)
redis.call('XACK', KEYS[1], g, eid)
redis.call('XDEL', KEYS[1], eid)
if cur ~= 's:' .. eid then return 0 end
if action == 'retry' then
  redis.call('ZADD', KEYS[3], ARGV[11], id)
  redis.call('HSET', KEYS[2], id,
    'd:' .. ARGV[5] .. ',' .. ARGV[6] .. ',' .. ARGV[7] .. ',' .. ARGV[8] .. '|' .. ARGV[10])
elseif action == 'requeue' then
  local e = xadd(KEYS[1], id, ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
  redis.call('HSET', KEYS[2], id, 's:' .. e)
elseif action == 'fail' then
  failJob(KEYS[2], KEYS[4], id, ARGV[11], tonumber(ARGV[12]))
else
  redis.call('HDEL', KEYS[2], id)
end
return 1
`;

/**
 * KEYS: stream, jobs, delayed, failed. ARGV: group, reaper consumer name, lease ms, now,
 * max stalls, failed jobs kept, batch limit.
 * (1) Moves the retries whose backoff is over to the stream (redelivered). (2) Takes the
 * entries whose lease expired (idle in the group longer than the lease: their consumer died
 * or stopped renewing) and re-issues each as a fresh entry, attempt unchanged, one stall more;
 * past max stalls the job fails instead and is returned as abandoned.
 * Returns { malformed, promoted, stalled, { id, payload, ... abandoned }, the earliest
 * waiting retry's due time in ms (nil for none) }.
 */
export const MAINTAIN_LUA = `${HELPERS}
local g, reaper, lease, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxStalled, keep, limit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local malformed, promoted, stalled, abandoned = 0, 0, 0, {}
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
if #due > 0 then
  redis.call('ZREM', KEYS[3], unpack(due))
  local recs = redis.call('HMGET', KEYS[2], unpack(due))
  for i = 1, #due do
    local rec = recs[i]
    if rec and string.sub(rec, 1, 2) == 'd:' then
      local a, s, m, b, d = string.match(rec, '^d:(%d+),(%d+),(%d+),(%d+)|(.*)$')
      if a then
        local e = xadd(KEYS[1], due[i], a, s, m, b, 1, d)
        redis.call('HSET', KEYS[2], due[i], 's:' .. e)
        promoted = promoted + 1
      else
        redis.call('HDEL', KEYS[2], due[i])
        malformed = malformed + 1
      end
    end
  end
end
local claimed = redis.pcall('XAUTOCLAIM', KEYS[1], g, reaper, lease, '0-0', 'COUNT', limit)
if type(claimed) == 'table' and not claimed.err then
  for _, entry in ipairs(claimed[2]) do
    local eid, f = entry[1], entry[2]
    redis.call('XACK', KEYS[1], g, eid)
    redis.call('XDEL', KEYS[1], eid)
    local t = {}
    if type(f) == 'table' then for i = 1, #f - 1, 2 do t[f[i]] = f[i + 1] end end
    local j = t.j
    local a, s, m, b, d = tonumber(t.a), tonumber(t.s), tonumber(t.m), tonumber(t.b), t.d
    local cur = j and redis.call('HGET', KEYS[2], j)
    if not j then
      malformed = malformed + 1
    elseif cur == 's:' .. eid then
      if not (a and s and m and b and d) then
        redis.call('HDEL', KEYS[2], j)
        malformed = malformed + 1
      elseif s + 1 > maxStalled then
        failJob(KEYS[2], KEYS[4], j, now, keep)
        abandoned[#abandoned + 1] = j
        abandoned[#abandoned + 1] = d
      else
        local e = xadd(KEYS[1], j, a, s + 1, m, b, 1, d)
        redis.call('HSET', KEYS[2], j, 's:' .. e)
        stalled = stalled + 1
      end
    end
  end
end
-- When the earliest retry still waiting comes due (ms, false for none): the caller's pass
-- for it may have run a hair early by the script's clock, and must not leave it to the sweep.
local nextDue = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2] or false
return { malformed, promoted, stalled, abandoned, nextDue }
`;

/**
 * KEYS: stream, jobs, delayed. ARGV: group, then job ids. Removes those jobs that wait (an
 * entry not yet delivered, or a retry's backoff); an active (pending) or failed one stays.
 * Returns how many were removed.
 */
export const REMOVE_LUA = `
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local cur = redis.call('HMGET', KEYS[2], unpack(ids))
local removed = 0
for i = 1, #ids do
  local c = cur[i]
  if c and string.sub(c, 1, 2) == 'd:' then
    redis.call('ZREM', KEYS[3], ids[i])
    redis.call('HDEL', KEYS[2], ids[i])
    removed = removed + 1
  elseif c and string.sub(c, 1, 2) == 's:' then
    local eid = string.sub(c, 3)
    local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], eid, eid, 1)
    local pending = type(p) == 'table' and not p.err and #p > 0
    if not pending then
      removed = removed + redis.call('XDEL', KEYS[1], eid)
      redis.call('HDEL', KEYS[2], ids[i])
    end
  end
end
return removed
`;

/**
 * KEYS: stream, jobs. ARGV: group, consumer name, limit.
 * At a consumer's close, after its in-flight jobs settled: re-issues every entry still
 * pending on it (read but never started: fetched while closing, or its read cut by the
 * close), attempt and flags unchanged, then removes the consumer from the group.
 * Returns how many were re-issued.
 */
export const RELEASE_LUA = `${HELPERS}
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[3]), ARGV[2])
if type(p) ~= 'table' or p.err then return 0 end
local n = 0
for _, row in ipairs(p) do
  local eid = row[1]
  local got = redis.call('XRANGE', KEYS[1], eid, eid)
  redis.call('XACK', KEYS[1], ARGV[1], eid)
  if #got > 0 then
    redis.call('XDEL', KEYS[1], eid)
    local f, t = got[1][2], {}
    for i = 1, #f - 1, 2 do t[f[i]] = f[i + 1] end
    if t.j and t.a and t.s and t.m and t.b and t.d and redis.call('HGET', KEYS[2], t.j) == 's:' .. eid then
      local e = xadd(KEYS[1], t.j, t.a, t.s, t.m, t.b, t.r or 0, t.d)
      redis.call('HSET', KEYS[2], t.j, 's:' .. e)
      n = n + 1
    end
  end
end
if #p < tonumber(ARGV[3]) then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) end
return n
`;
