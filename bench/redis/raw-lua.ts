// The raw-Lua baseline of bench:redis: the pool scripts called with EVALSHA exactly as RedisStore
// calls them (same arguments), with no store code around them. Its own module so a test can run it:
// a script's arguments change with the store, and a bench only run by hand would rot unseen.

import type { Redis } from "ioredis";
import { poolKeys } from "../../src/store/redis/keys.js";
import { ASSIGN, CREATE_POOL, RELEASE } from "../../src/store/redis/lua/pool-scripts.js";
import { LuaScript } from "../../src/store/redis/lua-script.js";

export interface RawLuaPool {
  /** One AssignToken + ReleaseToken of the lease it got, by script; throws on any script error. */
  pair(owner: string): Promise<void>;
}

export async function rawLuaPool(client: Redis, name: string, tokens: number, ring: number): Promise<RawLuaPool> {
  const create = new LuaScript("create_pool", CREATE_POOL);
  const assign = new LuaScript("assign", ASSIGN);
  const release = new LuaScript("release", RELEASE);
  const keys = poolKeys(name);
  const ids = Array.from({ length: tokens }, (_, i) => `${name}-${i}`);
  // ARGV as RedisStore sends them: lease TTL, idle TTL, max tokens, incarnation, owner quota (0 = none), count, ids.
  const created = await create.json(client, keys, [ring, 60_000, 300_000, tokens, "bench", 0, tokens, ...ids]);
  if (created.err !== undefined) throw new Error(`create_pool: ${String(created.err)}`);
  return {
    async pair(owner) {
      // Owner, lease TTL, request id, wait, invalid, recyclable, replica, claim, liveness ms.
      const a = await assign.json(client, keys, [ring, owner, 0, "", 0, "0", "0", "raw-bench", "", 3000]);
      if (a.err !== undefined) throw new Error(`assign: ${String(a.err)}`);
      const lease = a.lease as { k: string; g: number };
      const r = await release.json(client, keys, [ring, lease.k, lease.g, "0", ""]);
      if (r.err !== undefined) throw new Error(`release: ${String(r.err)}`);
    },
  };
}
