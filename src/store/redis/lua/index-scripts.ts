// Scripts on the global index slot ({tokenpool}): the pool-name index and the per-pool due index
// the reapers sleep on. Pool scripts cannot write here (another Cluster slot), so replicas forward
// what pool scripts report; versions make those forwards safe to arrive late or out of order.

// A due version is "created:counter": the pool incarnation's creation time, then a per-pool counter.
const NEWER = `
local function parse(v)
  local c, n = string.match(v, '^(%d+):(.+)$')
  if n == 'inf' then return tonumber(c), math.huge end
  return tonumber(c), tonumber(n)
end
local function newer(a, b)
  if not b then return true end
  local ac, an = parse(a)
  local bc, bn = parse(b)
  return ac > bc or (ac == bc and an > bn)
end
`;

/** KEYS: pools, inc. ARGV: name, incarnation. Listed before its pool exists, so a pool is never unlisted. */
export const INDEX_ADD = `
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/**
 * KEYS: pools, inc, due, dver. ARGV: name, incarnation, created. Unlists the name unless a newer
 * incarnation has claimed it since, and leaves a due tombstone so late forwards of the deleted pool
 * cannot bring its due entry back.
 */
export const INDEX_REMOVE = `
${NEWER}
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local tomb = ARGV[3] .. ':inf'
if newer(tomb, redis.call('HGET', KEYS[4], ARGV[1])) then
  redis.call('HSET', KEYS[4], ARGV[1], tomb)
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 1
`;

/** KEYS: due, dver. ARGV: name, due time ('' = nothing scheduled), version. Applies only newer versions. */
export const DUE_SET = `
${NEWER}
if not newer(ARGV[3], redis.call('HGET', KEYS[2], ARGV[1])) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[2] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
return 1
`;

/**
 * KEYS: due. ARGV: max pools, claim ms. Takes up to N pools whose due time has passed and pushes
 * each one's entry claim-ms ahead, so other replicas skip it meanwhile and take over if this one dies
 * mid-reap. Replies {now, pools, next} with next = the earliest remaining due time.
 */
export const CLAIM_DUE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pools = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, name in ipairs(pools) do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), name)
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return cjson.encode({ now = now, pools = pools, next = head[2] and tonumber(head[2]) })
`;

/** KEYS: due, dver. ARGV: name. Drops the due entry of a pool that no longer exists (tombstoned). */
export const DUE_DROP_GONE = `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v == false or string.sub(v, -4) == ':inf' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
`;
