// bench:redis's raw-Lua baseline keeps calling the pool scripts the way RedisStore does: its pairs
// leave the pool as they found it (it once broke silently when create_pool gained an argument).

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawLuaPool } from "../../bench/redis/raw-lua.js";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import { createLogger } from "../../src/runtime/logger.js";
import { startRedisServer, type RedisServer } from "../harness/redis-server.js";

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

describe("bench:redis raw-Lua baseline", () => {
  it("runs assign+release pairs with the store's arguments, and the store reads the pool they leave", async () => {
    const client = new Redis(redis.url);
    const pool = await rawLuaPool(client, "rawcheck", 4, 1000);
    for (let i = 0; i < 20; i++) await pool.pair(`o${i % 3}`);
    client.disconnect();
    const store = await RedisStore.open({ url: redis.url, eventRingSize: 1000, watchBuffer: 1000, log: createLogger("silent") });
    try {
      const info = await store.getPool("rawcheck");
      expect(info.ok && info.value).toMatchObject({ total: 4, available: 4, held: 0, generation: 20 });
    } finally {
      await store.close();
    }
  });
});
