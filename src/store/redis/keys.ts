// Redis key layout. Every key of one pool carries the hash tag {pool} so a pool lives in one Redis
// Cluster slot and each pool script is single-slot; the two global indexes share the tag {tokenpool}.

// Built once per pool name: every call passes all sixteen keys. Bounded, as pool names come from callers.
const cache = new Map<string, readonly string[]>();
const CACHE_LIMIT = 10_000;

/** Keys of one pool, in the order every pool script receives them as KEYS[1..16]. */
export function poolKeys(pool: string): readonly string[] {
  let keys = cache.get(pool);
  if (keys) return keys;
  keys = buildKeys(pool);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pool, keys);
  return keys;
}

function buildKeys(pool: string): readonly string[] {
  const p = `tp:{${pool}}:`;
  return [
    `${p}meta`, // hash: config, generation/sequence/waiter counters, scheduled due time
    `${p}tok`, // hash: token -> idle deadline (0 = never)
    `${p}lease`, // hash: token -> JSON lease of a held token
    `${p}free`, // set: free tokens
    `${p}due`, // zset: "L|token", "I|token", "W|waiterId" by deadline
    `${p}req`, // hash: owner+request id -> token|generation (idempotent assigns)
    `${p}wq`, // zset: queued waiter ids, FIFO (score = id)
    `${p}wait`, // hash: waiter id -> JSON waiter
    `${p}grant`, // hash: waiter id -> JSON lease granted while it waited
    `${p}ev`, // stream: lease events, entry id = "<sequence>-0"
    `${p}recycle`, // zset: token -> generation, for each held lease on the recycle queue (oldest first)
    `${p}ids`, // zset, all scores 0: every token id in lexical order (ListTokens pages with ZRANGEBYLEX)
    `${p}cord`, // set: cordoned tokens (free or held)
    `${p}use`, // hash: owner -> leases held + tokens its waiting requests asked for (quotas)
    `${p}gq`, // zset: queued gang waiter ids, FIFO (score = id, same counter as wq)
    `${p}live`, // hash: replica id -> Redis time its waiters' liveness lease ends (dead replicas' waiters are never granted)
  ];
}

export const POOL_KEY_COUNT = 16;

/** Index of the event stream key in poolKeys(). */
export const EVENTS_KEY = 9;
/** Index of the meta hash key in poolKeys(). */
export const META_KEY = 0;

/**
 * Global keys, all in the slot of the hash tag {tokenpool} (slot 4615): the name index used by
 * ListPools and the "next deadline per pool" index the reapers sleep on.
 */
export const INDEX_KEYS = [
  "tp:{tokenpool}:pools", // zset, all scores 0: pool names in lexical order
  "tp:{tokenpool}:inc", // hash: pool name -> incarnation that owns the index entry
  "tp:{tokenpool}:due", // zset: pool name -> earliest deadline to look at
  "tp:{tokenpool}:dver", // hash: pool name -> version of the due score ("created:counter")
];

/**
 * Pub/sub channel CREATE_POOL publishes on, so all-pools watches notice a new pool at once rather than
 * at their next index scan. A channel, not a key: PUBLISH is bound to no slot, so the pool script that
 * publishes stays single-slot (on Redis Cluster the message reaches every node).
 */
export const POOL_CREATED_CHANNEL = "tp:{tokenpool}:created";
