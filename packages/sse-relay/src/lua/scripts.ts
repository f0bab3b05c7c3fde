import { ENTRY_EVENTS } from '../history-entry.js';
import { APPEND_RECORDS_LUA } from './append-records.js';

/**
 * The Lua scripts of the Redis event log. Each runs atomically, so the sequence number, the
 * epoch and the history can never disagree, whichever process appends.
 *
 * Keys: KEYS[1] = `<prefix>:run:{<runId>}:seq` (string `<epoch>:<base>:<l|d><seq>`, then
 *       the origins' append records `;<origin>=<token>:<first seq>:<count>`, append-records.ts),
 *       KEYS[2] = `<prefix>:run:{<runId>}:history` (stream); one hash slot (the run id is
 *       their tag), and the append script's channel is in it too. A history entry holds a
 *       batch of up to `ENTRY_EVENTS` consecutive events: id `<first seq>-0`, then one field
 *       pair per event, type then JSON (`result {…} result {…} shard {…}`); its count is half
 *       its fields. An older version's entry (one event: `t <type> d <json>`) reads as one event.
 *
 * Numbers: a new epoch's base is microseconds since 2023-11-14 (~1e14), above what Lua's
 * default number-to-string conversion prints exactly, so every seq is formatted with `num`.
 */

/**
 * The run's state: epoch, base, last seq and whether its `done` is appended, all in the
 * counter (with `PRIMARY_EPOCH`, also the id of the primary that wrote it), and the append
 * records after it (`;…`, none in a counter of the previous version: it reads as the same
 * epoch). No counter (a new run, an expired or lost history, an older version's format,
 * another primary's counter): nil, and the next append starts a new epoch, without records.
 */
const STATE = `
local function num(n) return string.format('%.0f', n) end
-- Who wrote the counter, when the log asks (PRIMARY_EPOCH, a line the log puts before every
-- script): the node id on a cluster (CLUSTER MYID), else the replication id. A counter another
-- server wrote predates a failover, whose new primary may lack the tail a client already saw,
-- so it reads as lost.
local PRIMARY = ''
if PRIMARY_EPOCH then
  local id = redis.pcall('CLUSTER', 'MYID')
  if type(id) == 'string' then
    PRIMARY = id
  else
    PRIMARY = string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or ''
  end
end
local function state()
  local raw = redis.call('GET', KEYS[1])
  if raw then
    local head, recs = raw, ''
    local cut = string.find(raw, ';', 1, true)
    if cut then head, recs = string.sub(raw, 1, cut - 1), string.sub(raw, cut) end
    local e, b, mark, n, r = string.match(head, '^(%w+):(%d+):([ld])(%d+):?(%x*)$')
    if e and r == PRIMARY then return e, tonumber(b), tonumber(n), mark == 'd', recs end
  end
  return nil, 0, 0, false, ''
end
-- recs: the append records to keep (the append script's; nil for none, as in a new epoch).
local function counter(epoch, base, seq, done, recs)
  local c = epoch .. ':' .. num(base) .. ':' .. (done and 'd' or 'l') .. num(seq)
  if PRIMARY ~= '' then c = c .. ':' .. PRIMARY end
  return c .. (recs or '')
end
-- An entry's events as a flat list: type, json, type, json, …
local function expand(f)
  if #f == 4 and f[1] == 't' and f[3] == 'd' then return { f[2], f[4] } end
  return f
end
local function firstSeq(entry) return tonumber(string.match(entry[1], '^(%d+)')) end
-- Above the floor, the clock and anything left in the history: no id a client holds is reused.
local function newBase(floor)
  local t = redis.call('TIME')
  local b = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
  if floor > b then b = floor end
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if last[1] then
    local s = firstSeq(last[1])
    if s then
      s = s + #expand(last[1][2]) / 2 - 1
      if s > b then b = s end
    end
  end
  return b
end
`;

/**
 * append: ARGV[1] floor, ARGV[2] historyLimit, ARGV[3] ttlMs, ARGV[4] ttlMs once `done` is
 * appended, ARGV[5] publish command ('' none, 'PUBLISH' or 'SPUBLISH'), ARGV[6] channel,
 * ARGV[7] and ARGV[8] the envelope's head and tail (pubsub-core's `scriptEnvelope()`: the
 * message is head .. payload .. tail), ARGV[9] largest message in bytes, ARGV[10] the epoch
 * to create if the run has none, ARGV[11] the appending origin ('' none: not idempotent),
 * ARGV[12] the batch's token (increasing per origin), ARGV[13] the appender's clock in ms
 * (only to space the TTL refreshes, below), then one (type, json) pair per event.
 * Idempotent: a batch sent again with the token of the origin's last append in this epoch
 * (its reply was lost, and the client or the emit buffer resent it) is answered as that
 * append was, and nothing is appended. No command of its own: the origin's record is read
 * from the counter the script reads anyway, and the new one is written in the counter's
 * `SET`, once the events are in (not before: a script that fails midway must leave no claim
 * that its events are in). Appends the events in
 * order with consecutive seqs, as one history entry per `ENTRY_EVENTS` of them (one XADD for
 * a usual batch), trims whole entries that start below `keepFrom` (history-entry.ts: every
 * one of the last ARGV[2] events stays), and publishes the appended ones with the payload
 * `[{"seq":N,"epoch":E,"event":json},…]` (the run events channel's batch) — in the same atomic
 * step, so every subscriber gets messages in seq order, after the history holds them.
 * Without a counter the history is rebuilt: a new epoch whose base is `newBase(floor)`.
 * A batch larger than ARGV[9] is split into several messages; a single event larger than
 * that is not published (subscribers read it from the history, as for any gap).
 * Returns the epoch, then one number per event: its seq, or 0 when it was refused because
 * the run's `done` is already in the history or earlier in this batch (`done` is the last frame).
 * TTLs: both keys get the TTL together, in a refresh; an append refreshes when it starts an
 * epoch or appends the `done` (whose TTL is shorter), when the counter has no refresh stamp
 * (`;~ttl=<ms>`, after the append records and not one of them),
 * or when the stamp is an eighth of the TTL old (or ahead of this appender's clock). Others
 * keep both TTLs (`SET … KEEPTTL`, no `PEXPIRE`): a `PEXPIRE` per append was a sixth of the
 * script's commands, and a run that appends keeps at least 7/8 of its idle TTL ahead of it.
 */
export const APPEND_SCRIPT = `${STATE}${APPEND_RECORDS_LUA}
local epoch, base, seq, done, recs = state()
local stamp
recs, stamp = takeStamp(recs)
local origin, token, now = ARGV[11], ARGV[12], tonumber(ARGV[13])
local FIRST_EVENT = 14
local refresh = not epoch
if not epoch then
  epoch = ARGV[10]
  base = newBase(tonumber(ARGV[1]))
  seq = base
  redis.call('DEL', KEYS[2])
end
if origin ~= '' then
  -- This origin's last append: the same token in this epoch means this batch is in already
  -- (its reply was lost; if it held the run's 'done', the run is done now: still answered as
  -- the first try was). Another epoch's record never matches: a new epoch has no records.
  local _, _, prev = findRecord(recs, origin)
  if prev then
    local n, first, was = string.match(prev, '^(%d+):(%d+):(%d+)$')
    if n == token then
      first, was = tonumber(first), tonumber(was)
      local again = { epoch }
      for i = 1, (#ARGV - FIRST_EVENT + 1) / 2 do
        again[i + 1] = (i <= was) and (first + i - 1) or 0
      end
      return again
    end
  end
end
local startSeq = seq + 1
local out = { epoch }
local ttl = ARGV[3]
local appended = 0
local cmd, channel, head, tail, max = ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local tag = ',"epoch":"' .. epoch .. '","event":'
-- Bytes of a message around its items: the envelope and the payload array's brackets.
local frame = #head + #tail + 2
local parts, size = {}, 0
local function flush()
  if #parts > 0 then
    redis.call(cmd, channel, head .. '[' .. table.concat(parts, ',') .. ']' .. tail)
    parts, size = {}, 0
  end
end
local limit = tonumber(ARGV[2])
local per = math.max(1, math.min(${ENTRY_EVENTS}, limit))
-- The entries to write: { first seq, fields }, each at most 'per' events.
local entries, fields = {}, nil
for i = FIRST_EVENT, #ARGV, 2 do
  if done then
    out[#out + 1] = 0
  else
    seq = seq + 1
    local id = num(seq)
    if not fields or #fields == 2 * per then
      fields = {}
      entries[#entries + 1] = { seq, fields }
    end
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
    out[#out + 1] = seq
    appended = appended + 1
    if cmd ~= '' then
      local part = '{"seq":' .. id .. tag .. ARGV[i + 1] .. '}'
      if frame + #part <= max then
        if frame + size + #parts + #part > max then flush() end
        parts[#parts + 1] = part
        size = size + #part
      end
    end
    if ARGV[i] == 'done' then
      done = true
      ttl = ARGV[4]
      refresh = true
    end
  end
end
-- Whole entries are kept from 'keep' on (history-entry.ts 'keepFrom'); an entry of this
-- batch that would start below it is not written at all (a batch larger than the limit).
local keep = seq - limit - per + 2
local minid = num(math.max(keep, 0)) .. '-0'
for _, e in ipairs(entries) do
  if e[1] >= keep then
    redis.call('XADD', KEYS[2], 'MINID', minid, num(e[1]) .. '-0', unpack(e[2]))
  end
end
if appended > 0 then
  -- Recorded once the events are in (a script that failed before this left no claim), in
  -- the same write as the seqs it claims.
  if origin ~= '' then
    recs = putRecord(recs, origin, token .. ':' .. num(startSeq) .. ':' .. appended)
  end
  local keep = not refresh and stamp and now >= stamp and now - stamp < tonumber(ttl) / 8
  if not keep then stamp = now end
  local c = counter(epoch, base, seq, done, recs) .. ';' .. TTL_STAMP .. '=' .. num(stamp)
  if keep then
    redis.call('SET', KEYS[1], c, 'KEEPTTL')
  else
    redis.call('SET', KEYS[1], c, 'PX', ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
flush()
return out
`;

/** The head as a reply: epoch ('' none), base, seq, done (0/1). */
const HEAD_REPLY = `
local function headReply()
  local epoch, base, seq, done = state()
  return { epoch or '', base, seq, done and 1 or 0 }
end
`;

/**
 * read: ARGV[1] first seq, ARGV[2] count, ARGV[3] 'last' to read the last event instead.
 * Returns the head (4 items, as `head`), then a flat array: seq, type, json, seq, type, json, …
 * The entry holding the first seq may start before it (a batch straddling the resume point):
 * only its events from the first seq on are returned.
 * No epoch: no events (a history without its counter belongs to no epoch).
 */
export const READ_SCRIPT = `${STATE}${HEAD_REPLY}
local out = headReply()
if out[1] == '' then return out end
if ARGV[3] == 'last' then
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
  if last then
    local f = expand(last[2])
    out[#out + 1] = num(firstSeq(last) + #f / 2 - 1)
    out[#out + 1] = f[#f - 1]
    out[#out + 1] = f[#f]
  end
  return out
end
local from, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
-- The entry at or before the first seq may hold it: start there.
local start = num(from) .. '-0'
local before = redis.call('XREVRANGE', KEYS[2], start, '-', 'COUNT', 1)[1]
if before then start = before[1] end
-- Every entry after the first holds at least one wanted event: limit + 1 entries suffice.
local entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', limit + 1)
local n = 0
for _, e in ipairs(entries) do
  local s = firstSeq(e)
  local f = expand(e[2])
  for i = 1, #f, 2 do
    if n >= limit then return out end
    if s and s >= from then
      out[#out + 1] = num(s)
      out[#out + 1] = f[i]
      out[#out + 1] = f[i + 1]
      n = n + 1
    end
    if s then s = s + 1 end
  end
end
return out
`;

/** head: no ARGV. Returns epoch ('' when the run has no history), base, seq, done (0/1). */
export const HEAD_SCRIPT = `${STATE}${HEAD_REPLY}
return headReply()
`;

/**
 * begin: ARGV[1] epoch, ARGV[2] ttlMs. The run's first epoch, base 0, unless it has one
 * (then nothing changes, even if its counter is unreadable or another primary's: the next
 * append starts a new epoch above every id). A history without a counter is dropped with it.
 * Returns 1 if created.
 */
export const BEGIN_SCRIPT = `${STATE}
-- Any counter, even one state() cannot read, stays: a history is begun at 1 only once.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], counter(ARGV[1], 0, 0, false), 'PX', ARGV[2])
return 1
`;

/**
 * gap: ARGV[1] new epoch, ARGV[2] floor, ARGV[3] ttlMs. Events were lost: a new empty epoch
 * above the floor and the current head (a finished run stays finished). Returns the epoch.
 */
export const GAP_SCRIPT = `${STATE}
local epoch, base, seq, done = state()
local floor = tonumber(ARGV[2])
if seq > floor then floor = seq end
local b = newBase(floor)
redis.call('DEL', KEYS[2])
-- A new epoch: the append records go with the old one (their events are gone).
redis.call('SET', KEYS[1], counter(ARGV[1], b, b, done), 'PX', ARGV[3])
return ARGV[1]
`;
