import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the Redis engine. Each runs atomically in Redis, which is what makes
 * a position trustworthy: the offset, the history entry and the live fan-out of a publish
 * happen together or not at all, so no node can see offset 7 live that history lacks.
 * Times come from Redis (`TIME`), never from a node's clock, so skewed nodes agree on
 * presence expiries.
 */

/**
 * Publish. KEYS: meta, stream[, idempotency key]. ARGV: data, type flag (t|b), a new
 * epoch should the topic have none, historySize, historyTtl, metaTtl, dedupWindow,
 * channel, origin. Returns {epoch, offset, duplicate (0|1)}.
 *
 * A topic without meta (new, expired or lost with a Redis that restarted without
 * persistence) starts a new epoch, and its stream goes with the old one: stream ids must
 * grow, and entries of a lost epoch are no one's history.
 */
export const PUBLISH = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
if #KEYS == 3 then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {epoch, tonumber(seen), 1} end
end
local offset = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if tonumber(ARGV[4]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], offset .. '-0', 'd', ARGV[1], 'b', ARGV[2], 'o', ARGV[9])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if #KEYS == 3 then redis.call('SET', KEYS[3], offset, 'PX', ARGV[7]) end
redis.call('PUBLISH', ARGV[8], 'h1 ' .. ARGV[9] .. ' ' .. epoch .. ' ' .. offset .. ' ' .. ARGV[2] .. '\\n' .. ARGV[1])
return {epoch, offset, 0}
`;

/**
 * Read a topic's stream: for recovery, and for a node filling a gap in its live feed.
 * KEYS: meta, stream. ARGV: a new epoch should the topic have none, metaTtl, first
 * offset, last offset (or '+'), most entries, the epoch the caller holds (entries only
 * from that one: another epoch's offsets mean other publications). Returns {epoch, seq, oldest offset kept
 * (seq + 1 when none), stream exists (0|1), entries}.
 *
 * A topic without meta gets its epoch here, so that a client recovering on a topic
 * nobody published to yet holds the position the first publish will continue.
 */
export const READ = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local exists = redis.call('EXISTS', KEYS[2])
local oldest = seq + 1
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end
local entries = {}
local from = tonumber(ARGV[3])
if epoch == ARGV[6] and from <= seq and tonumber(ARGV[5]) > 0 then
  local last = ARGV[4]
  if last ~= '+' then last = last .. '-0' end
  entries = redis.call('XRANGE', KEYS[2], from .. '-0', last, 'COUNT', ARGV[5])
end
return {epoch, seq, oldest, exists, entries}
`;

/**
 * A node's presence on a topic: refresh its members, drop every expired one (of any
 * node: a crashed node's members go here, with a leave event), and answer the members.
 * KEYS: members hash, expiries zset. ARGV: channel, presenceTtl, answer (0|1), then the
 * ids this node refreshes. The keys live three TTLs past the last refresh: long enough for
 * a sweep to see a crashed node's members expire, and so send their leave events. Returns the hash's fields and values when asked, else {}.
 */
export const PRESENCE_SWEEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[2], 'XX', now + ttl, ARGV[i])
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(gone) do
  local data = redis.call('HGET', KEYS[1], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if data then redis.call('PUBLISH', ARGV[1], 'l ' .. id .. '\\n' .. data) end
end
if #ARGV >= 4 then
  redis.call('PEXPIRE', KEYS[1], 3 * ttl)
  redis.call('PEXPIRE', KEYS[2], 3 * ttl)
end
if ARGV[3] == '1' then return redis.call('HGETALL', KEYS[1]) end
return {}
`;

/**
 * Members join: KEYS: members hash, expiries zset. ARGV: channel, presenceTtl, then an id
 * and its data (JSON) per member — the joins of one topic on a node in one event-loop turn,
 * so that a reconnect storm costs a script per topic and turn, not per member. A join
 * event only for a member that was not there (a refresh of its data is silent, as in the
 * memory engine). Returns how many were new.
 */
export const PRESENCE_JOIN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local added = 0
for i = 3, #ARGV - 1, 2 do
  local new = redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[i])
  if new == 1 then
    added = added + 1
    redis.call('PUBLISH', ARGV[1], 'j ' .. ARGV[i] .. '\\n' .. ARGV[i + 1])
  end
end
redis.call('PEXPIRE', KEYS[1], 3 * ttl)
redis.call('PEXPIRE', KEYS[2], 3 * ttl)
return added
`;

/** A member leaves: KEYS: members hash, expiries zset. ARGV: channel, id. */
export const PRESENCE_LEAVE = `
local data = redis.call('HGET', KEYS[1], ARGV[2])
if not data then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[1], 'l ' .. ARGV[2] .. '\\n' .. data)
return 1
`;

/** A script and its SHA-1, as `EVALSHA` names it. */
export class Script {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}
