// One Lua script per pool operation (each runs after PRELUDE, atomically, in the pool's slot). Errors
// are JSON values ({err = CODE, ...}) like the core's, never Lua errors; argument rules the core checks
// before touching state are checked in TypeScript with the core's own validators.

import { POOL_CREATED_CHANNEL } from "../keys.js";
import { PRELUDE } from "./prelude.js";

const script = (body: string): string => `${PRELUDE}\n${body}`;

const NOT_FOUND = `if not load_pool() then return cjson.encode({ err = 'POOL_NOT_FOUND' }) end`;

/**
 * ARGV: ring, leaseTtl, idleTtl, maxTokens, index incarnation (the id under which the name index
 * lists this pool), owner quota (0 = none), initial token count, their ids (left out when the count
 * exceeds maxTokens)...
 */
export const CREATE_POOL = script(`
local existing = redis.call('HGET', META, 'inc')
if existing then return cjson.encode({ err = 'POOL_EXISTS', inc = existing }) end
if tonumber(ARGV[7]) > tonumber(ARGV[4]) then return cjson.encode({ err = 'POOL_FULL', maxTokens = tonumber(ARGV[4]) }) end
-- Whatever is left of an earlier pool of this name (its event stream lingers for late readers).
redis.call('UNLINK', TOK, LEASE, FREE, DUE, REQ, WQ, WAIT, GRANT, EV, RECYCLE, IDS, CORD, USE, GQ, LIVE)
redis.call('HSET', META, 'leaseTtl', ARGV[2], 'idleTtl', ARGV[3], 'maxTokens', ARGV[4], 'inc', ARGV[5], 'quota', ARGV[6],
  'created', NOW_US, 'gen', 0, 'seq', 0, 'wid', 0, 'dueVer', 0)
load_pool()
add_tokens(ARGV, 8)
-- A wake-up for all-pools watchers (the payload is not read); O(1) with nobody subscribed.
redis.call('PUBLISH', '${POOL_CREATED_CHANNEL}', ARGV[5])
return finish({ stats = stats() })
`);

/** ARGV: ring. Waiters are timed out (flagged as a deletion), then a tombstone entry ends the stream. */
export const DELETE_POOL = script(`
${NOT_FOUND}
local inc = redis.call('HGET', META, 'inc')
for _, wid in ipairs(redis.call('ZRANGE', WQ, 0, -1)) do
  local w = drop_waiter(wid)
  emit({ t = 'WAITER_TIMED_OUT', k = '', o = w.o, g = 0, tm = NOW, w = tonumber(wid), del = 1 })
end
for _, wid in ipairs(redis.call('ZRANGE', GQ, 0, -1)) do
  local g = dequeue_gang(wid)
  emit({ t = 'WAITER_TIMED_OUT', k = '', o = g.o, g = 0, tm = NOW, w = tonumber(wid), del = 1 })
end
emit({ t = 'POOL_DELETED' })
-- UNLINK frees big hashes and sets in a background thread instead of inside the script.
redis.call('UNLINK', META, TOK, LEASE, FREE, DUE, REQ, WQ, WAIT, GRANT, RECYCLE, IDS, CORD, USE, GQ, LIVE)
-- Readers blocked on the stream still get the tombstone; a new pool of this name replaces it.
redis.call('PEXPIRE', EV, 60000)
return cjson.encode({ created = pool.created, inc = inc })
`);

/**
 * ARGV: ring, position of the first malformed id (0 = none), token ids. Ids are checked in order as
 * the core does (malformed or already present, whichever comes first), then max_tokens.
 */
export const GENERATE = script(`
${NOT_FOUND}
expire_due(INLINE_EXPIRY)
local bad = tonumber(ARGV[2])
local seen = {}
for c = 3, #ARGV, 1000 do
  local last = math.min(c + 999, #ARGV)
  local present = redis.call('HMGET', TOK, unpack(ARGV, c, last))
  for i = c, last do
    local id = ARGV[i]
    if i - 2 == bad then return finish({ err = 'INVALID_ARGUMENT' }) end
    if seen[id] or present[i - c + 1] then return finish({ err = 'TOKEN_EXISTS', token = id }) end
    seen[id] = true
  end
end
if redis.call('HLEN', TOK) + #ARGV - 2 > pool.maxTokens then
  return finish({ err = 'POOL_FULL', maxTokens = pool.maxTokens })
end
add_tokens(ARGV, 3)
return finish({ available = available() })
`);

/**
 * ARGV: ring, owner, leaseTtl (0 = pool's), requestId ('' = none), waitMs (0 = fail when exhausted),
 * invalid ('1' when owner or lease TTL broke a rule: the core reports that only for an existing pool),
 * recyclable ('1' = onto the recycle queue), replica id, claim (this waiting call's id), liveness ms
 * (how long the replica's liveness lease runs from now; it renews it while it has waiters).
 */
export const ASSIGN = script(`
${NOT_FOUND}
if ARGV[6] == '1' then return cjson.encode({ err = 'INVALID_ARGUMENT' }) end
expire_due(INLINE_EXPIRY)
local owner, ttl, rid, wait, rc = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), ARGV[7] == '1'
local replica, claim, live_ms = ARGV[8], ARGV[9], tonumber(ARGV[10])
local function waiting(wid)
  redis.call('HSET', LIVE, replica, int(NOW + live_ms))
  return finish({ waiting = tonumber(wid), sequence = tonumber(redis.call('HGET', META, 'seq')), created = pool.created })
end
if rid ~= '' then
  local token = redis.call('HGET', REQ, req_key(owner, rid))
  local lease = token and lease_of(token)
  if lease then return finish({ lease = lease_reply(token, lease), available = available() }) end
  -- A retry of a call still queued (its replica died, or its caller gave up on it): this call takes the
  -- waiter over, keeping its place in the queue, so whatever it is granted reaches this caller.
  local queued = redis.call('HGET', REQ, wreq_key(owner, rid))
  if queued and wait > 0 then
    local w = cjson.decode(redis.call('HGET', WAIT, queued))
    w.rp = replica
    w.c = claim
    redis.call('HSET', WAIT, queued, cjson.encode(w))
    schedule('W|' .. queued, NOW + wait)
    return waiting(queued)
  end
end
local over = over_quota(owner, 1)
if over then return finish(over) end
-- A gang at the head of its queue that spent its overtakes keeps the free tokens for itself.
local gid, gang = gang_head()
local token = nil
if not (gid and gang.ot <= 0) then token = redis.call('SPOP', FREE) end
if token and gid then
  gang.ot = gang.ot - 1
  redis.call('HSET', WAIT, gid, cjson.encode(gang))
end
if token then
  if ttl == 0 then ttl = pool.leaseTtl end
  local lease = grant(token, owner, ttl, rid, nil, rc)
  return finish({ lease = lease_reply(token, lease), available = available() })
end
if wait <= 0 then return finish({ err = 'POOL_EXHAUSTED', waiters = redis.call('ZCARD', WQ) + redis.call('ZCARD', GQ) }) end
-- Global FIFO: waiter ids grow per pool, so the queue ordered by id is arrival order across replicas.
local wid = redis.call('HINCRBY', META, 'wid', 1)
redis.call('ZADD', WQ, wid, wid)
redis.call('HSET', WAIT, wid, cjson.encode({ o = owner, lt = tonumber(ARGV[3]), r = rid, rc = rc and 1 or nil, rp = replica, c = claim }))
use_add(owner, 1)
if rid ~= '' then redis.call('HSET', REQ, wreq_key(owner, rid), int(wid)) end
schedule('W|' .. int(wid), NOW + wait)
return waiting(wid)
`);

/**
 * ARGV: ring, replica id, liveness ms. Renews this replica's liveness lease in the pool (its waiters
 * stay eligible for grants) and forgets leases that ran out (their waiters are dead either way).
 */
export const RENEW_LIVENESS = script(`
if not load_pool() then return cjson.encode({ gone = true }) end
local entries = redis.call('HGETALL', LIVE)
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) <= NOW then redis.call('HDEL', LIVE, entries[i]) end
end
redis.call('HSET', LIVE, ARGV[2], int(NOW + tonumber(ARGV[3])))
return cjson.encode({})
`);

/** ARGV: ring, tokens... */
export const KEEP_ALIVE = script(`
${NOT_FOUND}
expire_due(INLINE_EXPIRY)
local results = {}
for i = 2, #ARGV do
  local token = ARGV[i]
  if redis.call('HEXISTS', TOK, token) == 0 then
    results[#results + 1] = { k = token, missing = true }
  else
    local lease = lease_of(token)
    if lease then
      lease.x = NOW + lease.lt
      redis.call('HSET', LEASE, token, cjson.encode(lease))
    end
    set_idle(token, idle_deadline(lease and lease.x))
    schedule_token(token, lease)
    emit(token_event('RENEWED', token, lease, NOW))
    local r = { k = token, ix = idle_of(token) }
    if lease then r.lease = lease_reply(token, lease) end
    results[#results + 1] = r
  end
end
return finish({ results = results })
`);

/** ARGV: ring, token, generation ('' = any), hasOwner ('1'/'0'), owner. */
export const RELEASE = script(`
${NOT_FOUND}
expire_due(INLINE_EXPIRY)
local token = ARGV[2]
if redis.call('HEXISTS', TOK, token) == 0 then return finish({ err = 'TOKEN_NOT_FOUND' }) end
local lease = lease_of(token)
if not lease then return finish({ err = 'NOT_HELD' }) end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= lease.g then
  return finish({ err = 'LEASE_MISMATCH', generation = lease.g })
end
if ARGV[4] == '1' and ARGV[5] ~= lease.o then return finish({ err = 'LEASE_MISMATCH', owner = lease.o }) end
release(token, lease)
return finish({ available = available() })
`);

/** ARGV: ring. Releases the head of the recycle queue: the oldest held lease assigned with recyclable. */
export const RELEASE_OLDEST_RECYCLABLE = script(`
${NOT_FOUND}
expire_due(INLINE_EXPIRY)
local token = redis.call('ZRANGE', RECYCLE, 0, 0)[1]
if not token then return finish({ available = available() }) end
local lease = lease_of(token)
release(token, lease)
return finish({ released = token, available = available() })
`);

/** ARGV: ring, token. */
export const DELETE_TOKEN = script(`
${NOT_FOUND}
expire_due(INLINE_EXPIRY)
local token = ARGV[2]
if redis.call('HEXISTS', TOK, token) == 0 then return finish({ err = 'TOKEN_NOT_FOUND' }) end
local lease = lease_of(token)
emit(token_event('DELETED', token, lease, NOW))
remove_token(token, lease)
return finish({})
`);

/**
 * ARGV: ring, waiter id, mode, claim. Resolves a blocked assign from its replica's side:
 * 'check' collects a grant the replica may have missed; 'timeout' (its wait ended) and 'cancel'
 * (its caller went away) also remove a still-queued waiter. A cancelled waiter that was granted
 * meanwhile gives the token back, so it never swallows a free token. A waiter another call took over
 * (an idempotent retry) is left to that call: 'moved'.
 */
export const SETTLE_WAITER = script(`
if not load_pool() then return cjson.encode({ state = 'gone' }) end
local wid, mode, claim = ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZSCORE', WQ, wid) then
  local w = cjson.decode(redis.call('HGET', WAIT, wid))
  if w.c and w.c ~= claim then return cjson.encode({ state = 'moved' }) end
  if mode == 'check' then return cjson.encode({ state = 'queued' }) end
  drop_waiter(wid)
  if mode == 'timeout' then emit({ t = 'WAITER_TIMED_OUT', k = '', o = w.o, g = 0, tm = NOW, w = tonumber(wid) }) end
  return finish({ state = 'removed' })
end
local raw = redis.call('HGET', GRANT, wid)
if not raw then
  redis.call('ZREM', DUE, 'W|' .. wid)
  return finish({ state = 'unknown', available = available() })
end
local granted = cjson.decode(raw)
if granted.c and granted.c ~= claim then return cjson.encode({ state = 'moved', available = available() }) end
redis.call('ZREM', DUE, 'W|' .. wid)
redis.call('HDEL', GRANT, wid)
if mode ~= 'cancel' then return finish({ state = 'granted', grant = granted, available = available() }) end
local lease = lease_of(granted.k)
if lease and lease.g == granted.g then
  release(granted.k, lease)
end
return finish({ state = 'cancelled' })
`);

/** ARGV: ring, batch size. The reaper's step: expire a batch, then advertise the next deadline. */
export const REAP = script(`
if not load_pool() then return cjson.encode({ gone = true }) end
local processed = expire_due(tonumber(ARGV[2]))
local head = redis.call('ZRANGE', DUE, 0, 0, 'WITHSCORES')
local next_at = head[2] and tonumber(head[2])
if next_at and next_at <= NOW then return cjson.encode(with_late({ processed = processed, more = true })) end
return cjson.encode(with_late({ processed = processed, more = false, due = advertise(next_at or false) }))
`);

/** ARGV: ring. */
export const GET_POOL = script(`
${NOT_FOUND}
return cjson.encode({ stats = stats() })
`);

/** ARGV: ring, token. */
export const GET_TOKEN = script(`
${NOT_FOUND}
local token = ARGV[2]
if redis.call('HEXISTS', TOK, token) == 0 then return cjson.encode({ err = 'TOKEN_NOT_FOUND' }) end
local lease = lease_of(token)
return cjson.encode({ ix = idle_of(token), lease = lease and lease_reply(token, lease), cd = redis.call('SISMEMBER', CORD, token) == 1 })
`);

/**
 * ARGV: ring, owner, count, leaseTtl (0 = pool's), requestId ('' = none), waitMs (0 = fail when
 * short), invalid ('1' when owner or lease TTL broke a rule), replica id, liveness ms (as ASSIGN). A
 * gang: all `count` or none; waiting gangs queue FIFO in GQ (the rule in the prelude), served only while
 * their replica's liveness lease runs.
 */
export const ASSIGN_MANY = script(`
${NOT_FOUND}
if ARGV[7] == '1' then return cjson.encode({ err = 'INVALID_ARGUMENT' }) end
expire_due(INLINE_EXPIRY)
local owner, count, ttl, rid, wait = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local replica, live_ms = ARGV[8], tonumber(ARGV[9])
local function waiting(wid)
  redis.call('HSET', LIVE, replica, int(NOW + live_ms))
  return finish({ waiting = tonumber(wid), sequence = tonumber(redis.call('HGET', META, 'seq')), created = pool.created })
end
if rid ~= '' then
  local raw = redis.call('HGET', REQ, 'G|' .. req_key(owner, rid))
  if raw then
    local leases = {}
    for _, token in ipairs(cjson.decode(raw)) do
      local lease = lease_of(token)
      if lease then leases[#leases + 1] = lease_reply(token, lease) end
    end
    return finish({ leases = leases, available = available() })
  end
  local queued = redis.call('HGET', REQ, 'GW|' .. req_key(owner, rid))
  if queued and wait > 0 then
    -- A retry of a queued gang (its replica may have died) takes it over: its replica keeps it alive now.
    local g = cjson.decode(redis.call('HGET', WAIT, queued))
    g.rp = replica
    redis.call('HSET', WAIT, queued, cjson.encode(g))
    schedule('W|' .. queued, NOW + wait)
    return waiting(queued)
  end
  if queued then
    return finish({ waiting = tonumber(queued), sequence = tonumber(redis.call('HGET', META, 'seq')), created = pool.created })
  end
end
local over = over_quota(owner, count)
if over then return finish(over) end
if redis.call('ZCARD', GQ) == 0 and redis.call('SCARD', FREE) >= count then
  if ttl == 0 then ttl = pool.leaseTtl end
  return finish({ leases = grant_gang(owner, count, ttl, rid, nil), available = available() })
end
if wait <= 0 then return finish({ err = 'POOL_EXHAUSTED', waiters = redis.call('ZCARD', WQ) + redis.call('ZCARD', GQ) }) end
local wid = redis.call('HINCRBY', META, 'wid', 1)
redis.call('ZADD', GQ, wid, wid)
redis.call('HSET', WAIT, wid, cjson.encode({ o = owner, lt = tonumber(ARGV[4]), r = rid, n = count, ot = count, rp = replica }))
if rid ~= '' then redis.call('HSET', REQ, 'GW|' .. req_key(owner, rid), wid) end
use_add(owner, count)
schedule('W|' .. int(wid), NOW + wait)
return waiting(wid)
`);

/** ARGV: ring, waiter id, mode ('check' | 'timeout' | 'cancel'): SETTLE_WAITER for a gang. */
export const SETTLE_GANG = script(`
if not load_pool() then return cjson.encode({ state = 'gone' }) end
local wid, mode = ARGV[2], ARGV[3]
if redis.call('ZSCORE', GQ, wid) then
  if mode == 'check' then return cjson.encode({ state = 'queued' }) end
  local g = dequeue_gang(wid)
  redis.call('ZREM', DUE, 'W|' .. wid)
  if mode == 'timeout' then emit({ t = 'WAITER_TIMED_OUT', k = '', o = g.o, g = 0, tm = NOW, w = tonumber(wid) }) end
  serve_gangs()
  serve_singles()
  return finish({ state = 'removed' })
end
redis.call('ZREM', DUE, 'W|' .. wid)
local raw = redis.call('HGET', GRANT, wid)
if not raw then return finish({ state = 'unknown', available = available() }) end
redis.call('HDEL', GRANT, wid)
local granted = cjson.decode(raw)
if mode ~= 'cancel' then return finish({ state = 'granted', gang = granted.gang, available = available() }) end
for _, l in ipairs(granted.gang) do
  local lease = lease_of(l.k)
  if lease and lease.g == l.g then release(l.k, lease) end
end
return finish({ state = 'cancelled' })
`);

/** ARGV: ring, leaseTtl, idleTtl, maxTokens, quota (each '' = unchanged; checked in TypeScript). */
export const UPDATE_POOL = script(`
${NOT_FOUND}
local total = redis.call('HLEN', TOK)
if ARGV[4] ~= '' and tonumber(ARGV[4]) < total then return cjson.encode({ err = 'BELOW_TOTAL', total = total }) end
local fields = { 'leaseTtl', 'idleTtl', 'maxTokens', 'quota' }
for i = 1, 4 do
  if ARGV[i + 1] ~= '' then redis.call('HSET', META, fields[i], ARGV[i + 1]) end
end
load_pool()
return cjson.encode({ stats = stats() })
`);

/**
 * ARGV: ring, after ('' = from the start), limit, state ('' | free | held | cordoned), owner ('' = any).
 * O(log n + page): one ZRANGEBYLEX of at most 4 x limit ids (a filtered page may come back short).
 */
export const LIST_TOKENS = script(`
${NOT_FOUND}
local after, limit, state, owner = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local budget = limit
if state ~= '' or owner ~= '' then budget = limit * 4 end
local min = '-'
if after ~= '' then min = '(' .. after end
local ids = redis.call('ZRANGEBYLEX', IDS, min, '+', 'LIMIT', 0, budget + 1)
local out, last, more = {}, nil, #ids > budget
for i = 1, math.min(#ids, budget) do
  local id = ids[i]
  last = id
  local lease = lease_of(id)
  local cd = redis.call('SISMEMBER', CORD, id) == 1
  local match = (owner == '' or (lease ~= nil and lease.o == owner))
    and (state == '' or (state == 'free' and not lease and not cd) or (state == 'held' and lease ~= nil) or (state == 'cordoned' and cd))
  if match then
    out[#out + 1] = { k = id, ix = idle_of(id), lease = lease and lease_reply(id, lease), cd = cd }
    if #out >= limit then
      more = i < #ids
      break
    end
  end
end
return cjson.encode({ tokens = out, next = more and last or nil })
`);

/** ARGV: ring, token, '1' to cordon / '0' to uncordon. Idempotent: no event when nothing changes. */
export const SET_CORDON = script(`
${NOT_FOUND}
expire_due(INLINE_EXPIRY)
local token, on = ARGV[2], ARGV[3] == '1'
if redis.call('HEXISTS', TOK, token) == 0 then return finish({ err = 'TOKEN_NOT_FOUND' }) end
local lease = lease_of(token)
local was = redis.call('SISMEMBER', CORD, token) == 1
if on and not was then
  redis.call('SADD', CORD, token)
  redis.call('SREM', FREE, token)
  emit(token_event('TOKEN_CORDONED', token, lease, NOW))
elseif was and not on then
  redis.call('SREM', CORD, token)
  emit(token_event('TOKEN_UNCORDONED', token, lease, NOW))
  if not lease then make_available(token) end
end
lease = lease_of(token)
return finish({ ix = idle_of(token), lease = lease and lease_reply(token, lease), cd = on })
`);

/** ARGV: ring. Where a new watcher starts: the last sequence, the oldest retained one, the incarnation. */
export const WATCH_POSITION = script(`
${NOT_FOUND}
local first = redis.call('XRANGE', EV, '-', '+', 'COUNT', 1)[1]
local oldest = first and tonumber(string.match(first[1], '^(%d+)-'))
return cjson.encode({ sequence = tonumber(redis.call('HGET', META, 'seq')), oldest = oldest, created = pool.created })
`);
