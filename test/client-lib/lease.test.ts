// The client library's leases against a real server process: kept alive past many TTLs by the
// pool's loop, released (explicitly, at scope exit, on close), lost with the right reason when the
// server says so, and an assign whose answer is lost retried without taking a second token.

import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerProcess } from "../harness/server-process.js";
import { LeaseLostError, TokenState, type TokenPoolClient } from "../../src/client/node.js";
import { client, freshPool, serverProcess, sleep } from "./fixtures.js";

let s: ServerProcess;
let admin: TokenPoolClient;
beforeAll(async () => {
  s = await serverProcess();
  admin = client(s.url);
});
afterAll(async () => {
  await admin?.close();
  await s?.stop();
});

const lostKind = (signal: AbortSignal) => (signal.reason instanceof LeaseLostError ? signal.reason.kind : String(signal.reason));

describe.each(["connect", "grpc", "grpc-web"] as const)("over %s", (protocol) => {
  it("keeps a lease alive past several TTLs, then releases it", async () => {
    const c = client(s.url, { protocol });
    const pool = await freshPool(admin, 1, 1000);
    const lease = await c.acquire(pool, { owner: "alice" });
    expect(lease.token).not.toBe("");
    expect(lease.generation).toBeGreaterThan(0n);
    expect(lease.expireTime.getTime()).toBeGreaterThan(Date.now());
    await sleep(3500);
    expect(lease.signal.aborted).toBe(false);
    expect(lease.isValid()).toBe(true);
    const held = await admin.service.getToken({ pool, token: lease.token });
    expect(held.state).toBe(TokenState.HELD);
    expect(held.lease).toMatchObject({ owner: "alice", generation: lease.generation });
    await lease.release();
    expect(lostKind(lease.signal)).toBe("released");
    expect((await admin.service.getToken({ pool, token: lease.token })).state).toBe(TokenState.FREE);
    await c.close();
  });
});

describe("lease lifecycle", () => {
  it("releases at scope exit with await using", async () => {
    const c = client(s.url);
    const pool = await freshPool(admin, 1, 5000);
    let token = "";
    {
      await using lease = await c.acquire(pool, { owner: "scoped" });
      token = lease.token;
      expect((await admin.service.getToken({ pool, token })).state).toBe(TokenState.HELD);
    }
    expect((await admin.service.getToken({ pool, token })).state).toBe(TokenState.FREE);
    await c.close();
  });

  // CANCELED the caller did not ask for is the transport's: a stream reset by the server or a proxy.
  it.each([Code.Unavailable, Code.Canceled])("retries an assign whose answer was lost (code %s) with the same request id: one token taken", async (code) => {
    let lost = 0;
    const requestIds: string[] = [];
    const loseFirstAnswer: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (req.method.name === "AssignToken") {
        requestIds.push((req.message as unknown as { requestId: string }).requestId);
        if (lost++ === 0) throw new ConnectError("answer lost on the way", code);
      }
      return res;
    };
    const c = client(s.url, { interceptors: [loseFirstAnswer] });
    const pool = await freshPool(admin, 3, 5000);
    const lease = await c.acquire(pool, { owner: "retry" });
    expect(requestIds).toHaveLength(2);
    expect(requestIds[0]).toBe(requestIds[1]);
    const p = await admin.service.getPool({ name: pool });
    expect(p.pool).toMatchObject({ held: 1, available: 2 });
    expect((await admin.service.getToken({ pool, token: lease.token })).lease?.generation).toBe(lease.generation);
    await c.close();
  });

  it("does not retry an assign its own caller cancelled", async () => {
    const caller = new AbortController();
    let assigns = 0;
    const cancelDuringFirst: Interceptor = (next) => async (req) => {
      if (req.method.name === "AssignToken") assigns++;
      const res = await next(req);
      if (req.method.name === "AssignToken") {
        caller.abort(new Error("caller gave up"));
        throw new ConnectError("cancelled", Code.Canceled);
      }
      return res;
    };
    const c = client(s.url, { interceptors: [cancelDuringFirst] });
    const pool = await freshPool(admin, 1, 5000);
    await expect(c.acquire(pool, { owner: "quitter", signal: caller.signal })).rejects.toThrow();
    expect(assigns).toBe(1);
    await c.close();
  });

  it("aborts with token-gone when the token is deleted, not-held when released elsewhere", async () => {
    const c = client(s.url);
    const pool = await freshPool(admin, 2, 1000);
    const a = await c.acquire(pool, { owner: "x" });
    const b = await c.acquire(pool, { owner: "x" });
    await admin.service.deleteToken({ pool, token: a.token });
    await admin.service.releaseToken({ pool, token: b.token });
    await sleep(1200);
    expect(lostKind(a.signal)).toBe("token-gone");
    expect(lostKind(b.signal)).toBe("not-held");
    expect(c.leases()).toEqual([]);
    await c.close();
  });

  it("aborts with generation-changed when someone else holds the token now", async () => {
    const c = client(s.url);
    const pool = await freshPool(admin, 1, 1000);
    const mine = await c.acquire(pool, { owner: "me" });
    await admin.service.releaseToken({ pool, token: mine.token });
    const theirs = await admin.service.assignToken({ pool, owner: "them", leaseTtl: { seconds: 30n } });
    await sleep(1200);
    expect(lostKind(mine.signal)).toBe("generation-changed");
    expect((mine.signal.reason as Error).message).toContain(`generation ${theirs.lease!.generation}`);
    // Our renewals stopped: their lease was not extended past its own 30 s by us.
    expect((await admin.service.getToken({ pool, token: mine.token })).lease?.owner).toBe("them");
    await c.close();
  });

  it("close() releases what the client holds and refuses new acquires", async () => {
    const c = client(s.url);
    const pool = await freshPool(admin, 3, 5000);
    const leases = await Promise.all([1, 2, 3].map(() => c.acquire(pool, { owner: "closer" })));
    expect((await admin.service.getPool({ name: pool })).pool?.held).toBe(3);
    await c.close();
    expect(leases.map((l) => lostKind(l.signal))).toEqual(["released", "released", "released"]);
    expect((await admin.service.getPool({ name: pool })).pool?.held).toBe(0);
    await expect(c.acquire(pool, { owner: "closer" })).rejects.toThrow(/closed/);
  });
});
