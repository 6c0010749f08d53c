// The pool state machine in Lua, shared by every pool script: the same rules as src/core/token-pools.ts
// (one timer per token, FIFO waiters, fencing generations, per-pool event sequence), applied atomically
// inside Redis. Each script is this prelude followed by its own body (see pool-scripts.ts).
//
// KEYS are the pool's keys in the order of keys.ts; ARGV[1] is the number of events the stream keeps
// (and the call's deadline, below).
// Time is Redis server time (TIME), never a replica's clock. Replies are JSON (cjson); numbers stay
// below 1e14 (milliseconds), well inside cjson's 14 significant digits.

export const PRELUDE = `
local META, TOK, LEASE, FREE, DUE, REQ, WQ, WAIT, GRANT, EV, RECYCLE =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
-- Issue 17: token ids in id order (ListTokens), cordoned tokens, per-owner usage (quotas), gang queue.
local IDS, CORD, USE, GQ = KEYS[12], KEYS[13], KEYS[14], KEYS[15]
local LIVE = KEYS[16]
-- ARGV[1] = "ring" or "ring:notAfter": a call its replica already answered as timed out must not
-- take effect later (Redis stopped, then resumed with the call still buffered), so it does nothing.
local RING, NOT_AFTER = string.match(ARGV[1], '^(%d+):?(%d*)$')

local function int(n) return string.format('%d', n) end

local clock = redis.call('TIME')
local NOW = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if NOT_AFTER ~= '' and NOW > tonumber(NOT_AFTER) then do return cjson.encode({ err = 'LATE' }) end end
-- Microseconds, kept as a string: identifies a pool incarnation (below 2^53, beyond cjson's digits).
local NOW_US = int(tonumber(clock[1]) * 1000000 + tonumber(clock[2]))

-- Configuration of the pool, once load_pool() found it.
local pool

local function load_pool()
  local m = redis.call('HMGET', META, 'leaseTtl', 'idleTtl', 'maxTokens', 'created', 'quota')
  if not m[1] then return false end
  pool = { leaseTtl = tonumber(m[1]), idleTtl = tonumber(m[2]), maxTokens = tonumber(m[3]), created = m[4], quota = tonumber(m[5]) or 0 }
  return true
end

local function available() return redis.call('SCARD', FREE) end

local function stats()
  local m = redis.call('HMGET', META, 'gen', 'seq')
  local total = redis.call('HLEN', TOK)
  local free = available()
  return {
    leaseTtl = pool.leaseTtl, idleTtl = pool.idleTtl, maxTokens = pool.maxTokens,
    total = total, available = free, held = redis.call('HLEN', LEASE), waiters = redis.call('ZCARD', WQ) + redis.call('ZCARD', GQ),
    cordoned = redis.call('SCARD', CORD), quota = pool.quota,
    generation = tonumber(m[1]), sequence = tonumber(m[2]),
  }
end

-- Events ------------------------------------------------------------------------------------------

-- Appends one event; its per-pool sequence is also its stream entry id, so a watcher on any replica
-- can resume after a sequence with XREAD/XRANGE.
local function emit(ev)
  local seq = redis.call('HINCRBY', META, 'seq', 1)
  ev.s = seq
  redis.call('XADD', EV, 'MAXLEN', '~', RING, int(seq) .. '-0', 'e', cjson.encode(ev))
  return seq
end

-- Deadlines ---------------------------------------------------------------------------------------

-- Earliest deadline this script scheduled; finish() advertises it to the global due index.
local earliest

local function schedule(member, at)
  redis.call('ZADD', DUE, at, member)
  if earliest == nil or at < earliest then earliest = at end
end

-- Records a new due time for the pool (false = nothing scheduled) under a new version; the replica
-- forwards {at, version} to the global index, which keeps only the newest version per pool.
local function advertise(at)
  local ver = redis.call('HINCRBY', META, 'dueVer', 1)
  if at then redis.call('HSET', META, 'due', int(at)) else redis.call('HDEL', META, 'due') end
  return { at and int(at) or '', pool.created .. ':' .. int(ver) }
end

-- How late each lease or idle expiry of this script ran (NOW minus its deadline, ms); the replica
-- observes them for metrics. Sent only when non-empty (cjson encodes an empty table as an object).
local late = {}
-- Waiters dropped because their replica's liveness lapsed (the replica reports them as a metric).
local orphans = 0

local function with_late(reply)
  if #late > 0 then reply.late = late end
  if orphans > 0 then reply.orphans = orphans end
  return reply
end

-- Replies to the caller; advertises the pool's due time only when this script moved it earlier, so
-- the common case (a deadline after ones already scheduled) costs no extra round trip.
local function finish(reply)
  with_late(reply)
  if earliest ~= nil then
    local due = tonumber(redis.call('HGET', META, 'due'))
    if due == nil or earliest < due then reply.due = advertise(earliest) end
  end
  return cjson.encode(reply)
end

-- Tokens ------------------------------------------------------------------------------------------

local function idle_of(token)
  local v = tonumber(redis.call('HGET', TOK, token))
  if v and v > 0 then return v end
  return nil
end

local function lease_of(token)
  local raw = redis.call('HGET', LEASE, token)
  if raw then return cjson.decode(raw) end
  return nil
end

-- A held token never goes idle before its lease ends (a lease longer than the idle TTL keeps it).
local function idle_deadline(lease_expire)
  if pool.idleTtl == 0 then return nil end
  local idle = NOW + pool.idleTtl
  if lease_expire and lease_expire > idle then return lease_expire end
  return idle
end

local function set_idle(token, at)
  redis.call('HSET', TOK, token, at and int(at) or '0')
end

-- One timer per token: its lease deadline while held, its idle deadline while free.
local function schedule_token(token, lease)
  local at
  if lease then at = lease.x else at = idle_of(token) end
  if at then schedule('T|' .. token, at) else redis.call('ZREM', DUE, 'T|' .. token) end
end

local function req_key(owner, rid) return int(#owner) .. ':' .. owner .. rid end
-- REQ field of a queued waiter with a request id ('w' + key: a req_key starts with a digit), so a
-- retry of that call on any replica finds it.
local function wreq_key(owner, rid) return 'w' .. req_key(owner, rid) end

-- A waiter is granted a token only while its replica's liveness lease runs (renewed every second by
-- the replica); a killed replica's waiters are dropped instead, never handed a token nobody receives.
local function waiter_alive(w)
  if not w.rp then return true end
  local deadline = tonumber(redis.call('HGET', LIVE, w.rp))
  return deadline ~= nil and deadline > NOW
end

-- The lease as replied to callers and recorded for granted waiters.
local function lease_reply(token, lease)
  return { k = token, o = lease.o, g = lease.g, lt = lease.lt, x = lease.x, ix = idle_of(token), r = lease.r, rc = lease.rc }
end

-- An event about a token: owner, generation and lease deadline only while it is held.
local function token_event(kind, token, lease, time, wid)
  local ev = { t = kind, k = token, o = '', g = 0, tm = time, ix = idle_of(token), w = wid }
  if lease then ev.o = lease.o; ev.g = lease.g; ev.x = lease.x end
  return ev
end

-- rc: put the lease on the recycle queue, which holds exactly the held leases assigned with it.
local function grant(token, owner, ttl, rid, wid, rc)
  local gen = redis.call('HINCRBY', META, 'gen', 1)
  local lease = { o = owner, g = gen, lt = ttl, x = NOW + ttl, r = rid }
  if rc then
    lease.rc = 1
    redis.call('ZADD', RECYCLE, gen, token)
  end
  redis.call('HSET', LEASE, token, cjson.encode(lease))
  redis.call('HINCRBY', USE, owner, 1)
  set_idle(token, idle_deadline(lease.x))
  if rid ~= '' then redis.call('HSET', REQ, req_key(owner, rid), token) end
  schedule_token(token, lease)
  local ev = token_event('ASSIGNED', token, lease, NOW, wid)
  -- What the waiting replica needs to answer its blocked caller straight from the stream.
  if wid then ev.lt = ttl; ev.r = rid; ev.av = available() end
  emit(ev)
  return lease
end

-- Clears a held token's lease (the caller decides where the token goes next).
local function use_add(owner, n)
  if redis.call('HINCRBY', USE, owner, n) <= 0 then redis.call('HDEL', USE, owner) end
end

local function end_lease(token, lease)
  redis.call('HDEL', LEASE, token)
  use_add(lease.o, -1)
  -- A gang's request id lives only while every lease of it does.
  if lease.gk then redis.call('HDEL', REQ, 'G|' .. req_key(lease.o, lease.gk)) end
  if lease.rc then redis.call('ZREM', RECYCLE, token) end
  if lease.r ~= '' then
    local key = req_key(lease.o, lease.r)
    if redis.call('HGET', REQ, key) == token then redis.call('HDEL', REQ, key) end
  end
end


-- Over the owner's quota: held leases plus what its waiting requests asked for, plus n.
local function over_quota(owner, n)
  if pool.quota == 0 then return nil end
  local used = tonumber(redis.call('HGET', USE, owner)) or 0
  if used + n > pool.quota then return { err = 'OWNER_QUOTA_EXCEEDED', limit = pool.quota, used = used, requested = n } end
  return nil
end

-- count random free tokens (the caller checked there are that many) to one owner, one ASSIGNED each.
local function grant_gang(owner, count, ttl, rid, wid)
  local tokens = redis.call('SPOP', FREE, count)
  local leases = {}
  for _, token in ipairs(tokens) do
    local lease = grant(token, owner, ttl, '', wid, false)
    if rid ~= '' then
      lease.gk = rid
      redis.call('HSET', LEASE, token, cjson.encode(lease))
    end
    leases[#leases + 1] = lease_reply(token, lease)
  end
  if rid ~= '' then redis.call('HSET', REQ, 'G|' .. req_key(owner, rid), cjson.encode(tokens)) end
  return leases
end

-- Takes a gang out of its queue; what it asked for stops counting against its owner's quota.
local function dequeue_gang(wid)
  local g = cjson.decode(redis.call('HGET', WAIT, wid))
  redis.call('ZREM', GQ, wid)
  redis.call('HDEL', WAIT, wid)
  if g.r ~= '' then redis.call('HDEL', REQ, 'GW|' .. req_key(g.o, g.r)) end
  use_add(g.o, -g.n)
  return g
end

-- Gangs (AssignTokens), the rule of core/token-pools.ts: a gang at the head of GQ lets later requests
-- take up to n tokens (ot = overtakes left), then keeps every freed token until it has n.
-- A gang is served only while its replica's liveness lease runs, as a single waiter: a dead replica's
-- gang reaching the head is dropped (WAITER_TIMED_OUT, orphan), never granted tokens nobody receives.
local gangs_dropped = 0
local function gang_head()
  while true do
    local wid = redis.call('ZRANGE', GQ, 0, 0)[1]
    if not wid then return nil, nil end
    local g = cjson.decode(redis.call('HGET', WAIT, wid))
    if waiter_alive(g) then return wid, g end
    dequeue_gang(wid)
    redis.call('ZREM', DUE, 'W|' .. wid)
    orphans = orphans + 1
    gangs_dropped = gangs_dropped + 1
    emit({ t = 'WAITER_TIMED_OUT', k = '', o = g.o, g = 0, tm = NOW, w = tonumber(wid), orphan = 1 })
  end
end

-- Grants head gangs while their count is free; the grant record waits for the gang's replica (W| timer kept).
local function serve_gangs()
  while true do
    local wid, g = gang_head()
    if not wid or redis.call('SCARD', FREE) < g.n then return end
    dequeue_gang(wid)
    local ttl = g.lt
    if ttl == 0 then ttl = pool.leaseTtl end
    local leases = grant_gang(g.o, g.n, ttl, g.r, tonumber(wid))
    redis.call('HSET', GRANT, wid, cjson.encode({ gang = leases, av = available() }))
  end
end

-- A freed token while a gang waits: false lets the single-waiter path below take it (an earlier
-- single, or a later one while the gang has overtakes left); true when it went to the free set.
local function gang_take(token)
  local gid, g = gang_head()
  if not gid then return false end
  local single = redis.call('ZRANGE', WQ, 0, 0)[1]
  if single and tonumber(single) < tonumber(gid) then return false end
  if single and g.ot > 0 then
    g.ot = g.ot - 1
    redis.call('HSET', WAIT, gid, cjson.encode(g))
    return false
  end
  redis.call('SADD', FREE, token)
  schedule_token(token, nil)
  serve_gangs()
  return true
end

-- How long a grant record waits for its replica after the waiter's deadline.
local GRANT_KEEP_MS = 30000

-- Takes a waiter out of the queue (its W| timer stays: it also bounds an uncollected grant's record).
local function dequeue(wid)
  local w = cjson.decode(redis.call('HGET', WAIT, wid))
  redis.call('ZREM', WQ, wid)
  redis.call('HDEL', WAIT, wid)
  use_add(w.o, -1)
  if w.r ~= '' and redis.call('HGET', REQ, wreq_key(w.o, w.r)) == wid then redis.call('HDEL', REQ, wreq_key(w.o, w.r)) end
  return w
end

local function drop_waiter(wid)
  local w = dequeue(wid)
  redis.call('ZREM', DUE, 'W|' .. wid)
  return w
end

-- A token that just became free goes to the oldest live waiter if there is one, else to the free set.
-- Waiters of dead replicas met on the way are dropped (WAITER_TIMED_OUT, orphan): each once, so O(1)
-- amortised.
local function make_available(token)
  -- A cordoned token stays out of service: not free, its timer at its idle deadline.
  if redis.call('SISMEMBER', CORD, token) == 1 then
    schedule_token(token, nil)
    return
  end
  if gang_take(token) then return end
  for head in function() return redis.call('ZRANGE', WQ, 0, 0)[1] end do
    local w = dequeue(head)
    if waiter_alive(w) then
      local ttl = w.lt
      if ttl == 0 then ttl = pool.leaseTtl end
      local lease = grant(token, w.o, ttl, w.r, tonumber(head), w.rc == 1)
      -- Kept until the waiter's replica collects it or the waiter's deadline passes (W| timer); the
      -- claim says which waiting call (a retry may have taken the waiter over) may collect it.
      local reply = lease_reply(token, lease)
      reply.av = available()
      reply.c = w.c
      redis.call('HSET', GRANT, head, cjson.encode(reply))
      -- The record outlives the waiter's deadline by GRANT_KEEP_MS: a replica that missed the event (its
      -- stream reader reconnecting after a Redis restart) settles at its deadline and must still find
      -- it there, or its caller would be told POOL_EXHAUSTED while the lease is held in its name.
      local due_at = tonumber(redis.call('ZSCORE', DUE, 'W|' .. head)) or NOW
      schedule('W|' .. head, math.max(due_at, NOW) + GRANT_KEEP_MS)
      return
    end
    redis.call('ZREM', DUE, 'W|' .. head)
    orphans = orphans + 1
    emit({ t = 'WAITER_TIMED_OUT', k = '', o = w.o, g = 0, tm = NOW, w = tonumber(head), orphan = 1 })
  end
  redis.call('SADD', FREE, token)
  schedule_token(token, nil)
end

-- Free tokens to the single waiters a gang that left the head of its queue no longer keeps them from.
-- Each round removes a waiter, so it ends.
local function serve_singles()
  while redis.call('ZCARD', WQ) > 0 and redis.call('SCARD', FREE) > 0 do
    local gid, g = gang_head()
    local single = redis.call('ZRANGE', WQ, 0, 0)[1]
    if gid and tonumber(single) > tonumber(gid) and g.ot <= 0 then return end
    make_available(redis.call('SPOP', FREE))
  end
end

-- A held token given back by its holder: the event, then the token to the oldest waiter or the free set.
local function release(token, lease)
  emit(token_event('RELEASED', token, lease, NOW))
  end_lease(token, lease)
  make_available(token)
end

local function remove_token(token, lease)
  if lease then end_lease(token, lease) else redis.call('SREM', FREE, token) end
  redis.call('SREM', CORD, token)
  redis.call('ZREM', IDS, token)
  redis.call('HDEL', TOK, token)
  redis.call('ZREM', DUE, 'T|' .. token)
end

-- Expiry ------------------------------------------------------------------------------------------

local function on_token_timer(token, at)
  local lease = lease_of(token)
  if lease then
    if lease.x > NOW then schedule_token(token, lease) return end
    emit(token_event('LEASE_EXPIRED', token, lease, lease.x))
    late[#late + 1] = NOW - lease.x
    end_lease(token, lease)
    make_available(token)
    if redis.call('SISMEMBER', FREE, token) == 0 then return end
  end
  local idle = idle_of(token)
  if idle and idle <= NOW then
    emit(token_event('IDLE_EXPIRED', token, nil, idle))
    late[#late + 1] = NOW - idle
    remove_token(token, nil)
  elseif redis.call('HEXISTS', TOK, token) == 1 then
    schedule_token(token, nil)
  end
end

local function on_waiter_timer(wid)
  if redis.call('ZSCORE', GQ, wid) then
    local g = dequeue_gang(wid)
    emit({ t = 'WAITER_TIMED_OUT', k = '', o = g.o, g = 0, tm = NOW, w = tonumber(wid) })
    -- Tokens it kept go to what waits behind it.
    serve_gangs()
    serve_singles()
  elseif redis.call('ZSCORE', WQ, wid) then
    local w = drop_waiter(wid)
    emit({ t = 'WAITER_TIMED_OUT', k = '', o = w.o, g = 0, tm = NOW, w = tonumber(wid) })
  else
    -- Granted and never collected within GRANT_KEEP_MS after its deadline (its replica died, or
    -- answered from the stream and could not collect it).
    redis.call('HDEL', GRANT, wid)
  end
end

-- Processes up to limit due timers of this pool in deadline order: claiming a timer and applying
-- its effect happen in this one script, so every expiry happens exactly once whichever replica runs it.
local function expire_due(limit)
  local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    local member = due[i]
    redis.call('ZREM', DUE, member)
    local id = string.sub(member, 3)
    if string.sub(member, 1, 1) == 'T' then on_token_timer(id, tonumber(due[i + 1])) else on_waiter_timer(id) end
  end
  -- A dead replica's gang at the head keeps freed tokens from everyone behind it: drop it, serve them.
  local dropped = gangs_dropped
  gang_head()
  if gangs_dropped > dropped then
    serve_gangs()
    serve_singles()
  end
  return #due / 2
end

-- Adds new free tokens (ids already checked), each announced with GENERATED and then handed to the
-- oldest waiter if one is queued.
local function add_tokens(ids, from)
  if #ids < from then return end
  if redis.call('EXISTS', WQ) == 1 or redis.call('EXISTS', GQ) == 1 then
    for i = from, #ids do
      local id = ids[i]
      set_idle(id, idle_deadline(nil))
      redis.call('ZADD', IDS, 0, id)
      emit(token_event('GENERATED', id, nil, NOW))
      make_available(id)
    end
    return
  end
  -- Nobody waits, so every new token just goes free: write them in chunks (unpack is bounded by the
  -- Lua stack), number all their events at once, and append only the events the stream keeps —
  -- older ones would be trimmed right away, exactly as if they had been appended.
  local ix = idle_deadline(nil)
  local ix_text = ix and int(ix) or '0'
  for c = from, #ids, 1000 do
    local fields, members, timers, ordered = {}, {}, {}, {}
    for i = c, math.min(c + 999, #ids) do
      fields[#fields + 1] = ids[i]
      fields[#fields + 1] = ix_text
      members[#members + 1] = ids[i]
      ordered[#ordered + 1] = 0
      ordered[#ordered + 1] = ids[i]
      if ix then
        timers[#timers + 1] = ix
        timers[#timers + 1] = 'T|' .. ids[i]
      end
    end
    redis.call('HSET', TOK, unpack(fields))
    redis.call('SADD', FREE, unpack(members))
    redis.call('ZADD', IDS, unpack(ordered))
    if ix then redis.call('ZADD', DUE, unpack(timers)) end
  end
  if ix and (earliest == nil or ix < earliest) then earliest = ix end
  local n = #ids - from + 1
  local first = redis.call('HINCRBY', META, 'seq', n) - n + 1
  for i = from + math.max(0, n - tonumber(RING)), #ids do
    local seq = first + i - from
    local ev = { t = 'GENERATED', k = ids[i], o = '', g = 0, tm = NOW, ix = ix, s = seq }
    redis.call('XADD', EV, 'MAXLEN', '~', RING, int(seq) .. '-0', 'e', cjson.encode(ev))
  end
end

-- Timers due in this pool are applied before any write, so a late reaper never lets a caller see an
-- expired lease as live once it touches the pool.
local INLINE_EXPIRY = 16
`;
