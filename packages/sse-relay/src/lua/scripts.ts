/**
 * The Lua scripts of the Redis event log. Each runs atomically, so the sequence number
 * and the history can never disagree, whichever process appends.
 *
 * Keys: KEYS[1] = `{prefix}:run:{runId}:seq` (string counter),
 *       KEYS[2] = `{prefix}:run:{runId}:history` (stream; entry id `<seq>-0`, fields t, d).
 */

/** Highest seq known to the keys: the counter, or the last history entry if the counter is gone. */
const HEAD = `
local function head()
  local cur = tonumber(redis.call('GET', KEYS[1]) or 0)
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if last[1] then
    local s = tonumber(string.match(last[1][1], '^(%d+)'))
    if s > cur then cur = s end
  end
  return cur
end
`;

/**
 * append: ARGV[1] floor, ARGV[2] historyLimit, ARGV[3] ttlMs, ARGV[4] ttlMs once `done` is
 * appended, then one (type, json) pair per event. Appends the events in order with
 * consecutive seqs, starting at max(counter, last entry, floor) + 1, in one call.
 * Returns one number per event: its seq, or 0 when it was refused because the run's `done`
 * is already in the history or earlier in this batch (`done` is the last frame).
 */
export const APPEND_SCRIPT = `
local seq = tonumber(redis.call('GET', KEYS[1]) or 0)
local done = false
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if last[1] then
  local s = tonumber(string.match(last[1][1], '^(%d+)'))
  if s > seq then seq = s end
  local f = last[1][2]
  for i = 1, #f, 2 do
    if f[i] == 't' and f[i + 1] == 'done' then done = true end
  end
end
local floor = tonumber(ARGV[1])
if floor > seq then seq = floor end
local out = {}
local ttl = ARGV[3]
local appended = 0
for i = 5, #ARGV, 2 do
  if done then
    out[#out + 1] = 0
  else
    seq = seq + 1
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 't', ARGV[i], 'd', ARGV[i + 1])
    out[#out + 1] = seq
    appended = appended + 1
    if ARGV[i] == 'done' then
      done = true
      ttl = ARGV[4]
    end
  end
end
if appended > 0 then
  redis.call('SET', KEYS[1], seq, 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return out
`;

/**
 * read: KEYS[1] = history; ARGV[1] first seq, ARGV[2] count, ARGV[3] 'last' to read the
 * last entry instead. Returns a flat array: id, type, json, id, type, json, …
 */
export const READ_SCRIPT = `
local entries
if ARGV[3] == 'last' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
else
  entries = redis.call('XRANGE', KEYS[1], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
end
local out = {}
for _, e in ipairs(entries) do
  local t, d = '', ''
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 't' then t = f[i + 1] elseif f[i] == 'd' then d = f[i + 1] end
  end
  out[#out + 1] = e[1]
  out[#out + 1] = t
  out[#out + 1] = d
end
return out
`;

/** head: no ARGV. Returns the last assigned seq (0 when the run is unknown). */
export const HEAD_SCRIPT = `${HEAD}
return head()
`;

/** repair: ARGV[1] floor, ARGV[2] ttlMs. Raises the counter to at least floor. */
export const REPAIR_SCRIPT = `${HEAD}
local floor = tonumber(ARGV[1])
if head() < floor then redis.call('SET', KEYS[1], floor, 'PX', ARGV[2]) end
return 1
`;
