// 64 concurrent clients on three protocols churn a 50-token pool; the event stream and the fencing
// generations must show that no token ever had two holders.

import type { JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CLIENTS } from "../harness/client-matrix.js";
import { RpcError, type TestClient } from "../harness/clients.js";
import { startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer("memory");
});
afterAll(async () => {
  await s.close();
});

const CLIENT_COUNT = 64;
const POOL_SIZE = 50;
const RUN_MS = 3000;

it("never hands one token to two holders under concurrent churn", async () => {
  const factories = Object.values(CLIENTS);
  const admin = factories[0]!(s);
  await admin.unary("createPool", { name: "churn", initialTokens: POOL_SIZE });

  // Watch everything from the first event on, so the replay below sees the whole history.
  const abort = new AbortController();
  const events: JsonObject[] = [];
  const watching = (async () => {
    try {
      for await (const msg of admin.watch({ pool: "churn" }, { signal: abort.signal })) {
        if (msg.event) events.push(msg.event as JsonObject);
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
  })();
  await sleep(200);

  const clients: TestClient[] = Array.from({ length: CLIENT_COUNT }, (_, i) => factories[i % factories.length]!(s));
  const acquired: { owner: string; token: string; generation: string }[] = [];
  const until = Date.now() + RUN_MS;
  await Promise.all(
    clients.map(async (c, i) => {
      const owner = `client-${i}`;
      while (Date.now() < until) {
        let lease: JsonObject;
        try {
          lease = (await c.unary("assignToken", { pool: "churn", owner, waitTimeout: "0.2s" })).lease as JsonObject;
        } catch (e) {
          // A wait that timed out is a normal outcome under contention; try again.
          if (e instanceof RpcError && e.reason === "POOL_EXHAUSTED") continue;
          throw e;
        }
        acquired.push({ owner, token: String(lease.token), generation: String(lease.generation) });
        await sleep(Math.random() * 5);
        await c.unary("releaseToken", { pool: "churn", token: String(lease.token), generation: String(lease.generation), owner });
      }
    }),
  );

  const final = (await admin.unary("getPool", { name: "churn" })).pool as JsonObject;
  expect(final.held).toBeUndefined(); // zero: every lease was released
  expect(final.available).toBe(POOL_SIZE);

  // Wait until the watcher has caught up with every event the pool produced.
  const lastSequence = Number(final.sequence);
  const deadline = Date.now() + 10_000;
  while (Number(events[events.length - 1]?.sequence ?? 0) < lastSequence && Date.now() < deadline) {
    await sleep(20);
  }
  abort.abort();
  await watching;
  for (const c of clients) c.close();

  expect(acquired.length).toBeGreaterThan(CLIENT_COUNT);
  const holder = new Map<string, string>();
  let lastGeneration = 0;
  const assignedBy = new Map<string, string>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (i > 0) expect(Number(e.sequence)).toBe(Number(events[i - 1]!.sequence) + 1);
    const token = String(e.token);
    if (e.type === "LEASE_EVENT_TYPE_ASSIGNED") {
      expect(holder.has(token), `token ${token} assigned while held`).toBe(false);
      const generation = Number(e.generation);
      expect(generation).toBeGreaterThan(lastGeneration);
      lastGeneration = generation;
      holder.set(token, String(e.owner));
      assignedBy.set(`${token}/${e.generation}`, String(e.owner));
    } else if (e.type === "LEASE_EVENT_TYPE_RELEASED" || e.type === "LEASE_EVENT_TYPE_LEASE_EXPIRED") {
      expect(holder.get(token)).toBe(String(e.owner));
      holder.delete(token);
    }
  }
  expect(holder.size).toBe(0);
  // Every acknowledged lease appears in the stream with the same owner and generation.
  for (const a of acquired) expect(assignedBy.get(`${a.token}/${a.generation}`)).toBe(a.owner);
});
