/**
 * Origins whose last append a run's counter remembers. A resend is lost (appended again) only
 * if more than this many other origins appended to the same run between its first try and
 * it; a run's appenders are its api replicas and the worker processes running its shards,
 * and a resend follows its lost reply by one reconnect. At ~25 bytes a record, the counter
 * stays under 2 KB even then.
 */
export const APPEND_RECORDS = 64;

/** What an origin may be: the records' separators (`;`, `=`, `:`) never occur in it. */
export const ORIGIN_PATTERN = /^[\w-]{1,32}$/;

/**
 * The append records (idempotent appends), kept in the run's counter after its head:
 * `<head>;<origin>=<token>:<first seq>:<count>;…`, most recent first, at most
 * `APPEND_RECORDS`. In the counter rather than a key per origin, so checking and writing
 * them costs no command of its own (the counter is read and written by every append anyway),
 * and the record is written in the same `SET` as the seqs it claims. They belong to the
 * counter's epoch: a new epoch's counter starts without any, so an older epoch's record can
 * never match. Plain `string.find` only: an origin is never read as a pattern.
 */
export const APPEND_RECORDS_LUA = `
-- The stamp of the last TTL refresh (the appender's clock, ms), kept after the records and
-- not one of them: '~' is in no origin.
local TTL_STAMP = '~ttl'
-- Where origin's record is in recs: start, end (exclusive) and its value, or nil.
local function findRecord(recs, origin)
  local key = ';' .. origin .. '='
  local at = string.find(recs, key, 1, true)
  if not at then return nil end
  local stop = string.find(recs, ';', at + 1, true) or (#recs + 1)
  return at, stop, string.sub(recs, at + #key, stop - 1)
end
-- recs with origin's record replaced by rec, first, and the oldest beyond the bound dropped.
local function putRecord(recs, origin, rec)
  local at, stop = findRecord(recs, origin)
  if at then recs = string.sub(recs, 1, at - 1) .. string.sub(recs, stop) end
  recs = ';' .. origin .. '=' .. rec .. recs
  local p, n = 0, 0
  repeat
    p = string.find(recs, ';', p + 1, true)
    n = n + 1
  until not p or n > ${APPEND_RECORDS}
  if p then recs = string.sub(recs, 1, p - 1) end
  return recs
end
-- recs without the TTL stamp, and the stamp (nil for none).
local function takeStamp(recs)
  local at, stop, value = findRecord(recs, TTL_STAMP)
  if not at then return recs, nil end
  return string.sub(recs, 1, at - 1) .. string.sub(recs, stop), tonumber(value)
end
`;
