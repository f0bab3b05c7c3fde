/**
 * The Lua scripts of the Redis event log. Each runs atomically, so the sequence number
 * and the history can never disagree, whichever process appends.
 *
 * Keys: KEYS[1] = `{prefix}:run:{runId}:seq` (string counter),
 *       KEYS[2] = `{prefix}:run:{runId}:history` (stream; entry id `<seq>-0`, fields t, d).
 */

/**
 * The run's state: its last seq and whether its `done` is appended. The counter holds both
 * (`l<seq>` while live, `d<seq>` once `done` is in), so an append normally reads one key;
 * the history's last entry is read only when the counter is gone (evicted) or holds an
 * older version's plain number. Every writer of the counter sets it to at least the
 * history's last seq, so a marked counter alone is the truth.
 */
const STATE = `
local function state()
  local raw = redis.call('GET', KEYS[1])
  if raw then
    local mark, n = string.match(raw, '^([ld])(%d+)$')
    if n then return tonumber(n), mark == 'd' end
  end
  local cur = raw and tonumber(string.match(raw, '(%d+)$')) or 0
  local done = false
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if last[1] then
    local s = tonumber(string.match(last[1][1], '^(%d+)'))
    if s > cur then cur = s end
    local f = last[1][2]
    for i = 1, #f, 2 do
      if f[i] == 't' and f[i + 1] == 'done' then done = true end
    end
  end
  return cur, done
end
local function counter(seq, done)
  return (done and 'd' or 'l') .. seq
end
`;

/**
 * append: ARGV[1] floor, ARGV[2] historyLimit, ARGV[3] ttlMs, ARGV[4] ttlMs once `done` is
 * appended, ARGV[5] publish command ('' none, 'PUBLISH' or 'SPUBLISH'), ARGV[6] channel,
 * ARGV[7] and ARGV[8] the envelope's head and tail (pubsub-core's `scriptEnvelope()`: the
 * message is head .. payload .. tail), ARGV[9] largest message in bytes, then one (type, json)
 * pair per event. Appends the events in order with consecutive seqs, starting at
 * max(counter, last entry, floor) + 1, and publishes the appended ones with the payload
 * `[{"seq":N,"event":json},…]` (the run events channel's batch) — in the same atomic step,
 * so every subscriber gets messages in seq order, after the history holds them.
 * A batch larger than ARGV[9] is split into several messages; a single event larger than
 * that is not published (subscribers read it from the history, as for any gap).
 * Returns one number per event: its seq, or 0 when it was refused because the run's `done`
 * is already in the history or earlier in this batch (`done` is the last frame).
 */
export const APPEND_SCRIPT = `${STATE}
local seq, done = state()
local floor = tonumber(ARGV[1])
if floor > seq then seq = floor end
local out = {}
local ttl = ARGV[3]
local appended = 0
local cmd, channel, head, tail, max = ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
-- Bytes of a message around its items: the envelope and the payload array's brackets.
local frame = #head + #tail + 2
local parts, size = {}, 0
local function flush()
  if #parts > 0 then
    redis.call(cmd, channel, head .. '[' .. table.concat(parts, ',') .. ']' .. tail)
    parts, size = {}, 0
  end
end
for i = 10, #ARGV, 2 do
  if done then
    out[#out + 1] = 0
  else
    seq = seq + 1
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 't', ARGV[i], 'd', ARGV[i + 1])
    out[#out + 1] = seq
    appended = appended + 1
    if cmd ~= '' then
      local part = '{"seq":' .. seq .. ',"event":' .. ARGV[i + 1] .. '}'
      if frame + #part <= max then
        if frame + size + #parts + #part > max then flush() end
        parts[#parts + 1] = part
        size = size + #part
      end
    end
    if ARGV[i] == 'done' then
      done = true
      ttl = ARGV[4]
    end
  end
end
if appended > 0 then
  redis.call('SET', KEYS[1], counter(seq, done), 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
flush()
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
export const HEAD_SCRIPT = `${STATE}
local seq = state()
return seq
`;

/** repair: ARGV[1] floor, ARGV[2] ttlMs. Raises the counter to at least floor. */
export const REPAIR_SCRIPT = `${STATE}
local floor = tonumber(ARGV[1])
local seq, done = state()
if seq < floor then redis.call('SET', KEYS[1], counter(floor, done), 'PX', ARGV[2]) end
return 1
`;
