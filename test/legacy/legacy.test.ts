// The old Python service's API, byte for byte: bodies as Flask's jsonify wrote them (sorted keys,
// compact, non-ASCII escaped, trailing newline), the same statuses, and real leases underneath. Runs
// on every store, and on two Redis replicas where every recycle goes to the replica that did not
// issue the token: the recycle queue lives in the store, not in a process.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient } from "../harness/clients.js";
import { STORES, startTestReplicas, startTestServer, type TestServer } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";

const FLAGS = ["--total-tokens", "2", "--legacy-lease-ttl", "0.4", "--idle-ttl", "0"];

interface Deployment {
  /** Serves /issue_token, /tokens and the gRPC calls. */
  readonly issuer: TestServer;
  /** Serves /recycle_token: another process than the issuer when there are replicas. */
  readonly recycler: TestServer;
  close(): Promise<void>;
}

const DEPLOYMENTS: readonly { readonly name: string; readonly start: () => Promise<Deployment> }[] = [
  ...STORES.map((store) => ({
    name: store,
    start: async (): Promise<Deployment> => {
      const s = await startTestServer(store, FLAGS);
      return { issuer: s, recycler: s, close: () => s.close() };
    },
  })),
  {
    name: "redis, two replicas",
    start: async (): Promise<Deployment> => {
      const r = await startTestReplicas(2, FLAGS);
      return { issuer: r.replicas[0]!, recycler: r.replicas[1]!, close: () => r.close() };
    },
  },
];

for (const deployment of DEPLOYMENTS) {
  describe(`legacy HTTP API (${deployment.name})`, () => {
    let d: Deployment;
    let s: TestServer;
    beforeAll(async () => {
      d = await deployment.start();
      s = d.issuer;
    });
    afterAll(async () => {
      await d.close();
    });

    async function get(path: string, password: string | null = s.password) {
      const at = path.startsWith("/recycle_token") ? d.recycler : d.issuer;
      const res = await fetch(`${at.url}${path}`, { headers: password === null ? {} : { "x-api-password": password } });
      return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
    }

    /** Polls /tokens until it reads `body` (expiry runs on its own schedule, per store). */
    async function tokensEventually(body: string, withinMs: number): Promise<string> {
      const until = Date.now() + withinMs;
      let last = "";
      while (Date.now() < until) {
        last = (await get("/tokens")).body;
        if (last === body) return last;
        await sleep(50);
      }
      return last;
    }

    it("issues, counts and recycles tokens with the original bodies and statuses", async () => {
      expect(await get("/tokens")).toEqual({ status: 200, type: "application/json", body: '{"available_tokens":2}\n' });
      expect(await get("/issue_token?info=example")).toEqual({
        status: 200,
        type: "application/json",
        body: '{"available_tokens":1,"info":"example","message":"Token issued successfully."}\n',
      });
      expect((await get("/issue_token")).body).toBe('{"available_tokens":0,"info":"No info provided","message":"Token issued successfully."}\n');
      expect(await get("/issue_token?info=x")).toEqual({
        status: 429,
        type: "application/json",
        body: '{"available_tokens":0,"info":"x","message":"No tokens available."}\n',
      });
      expect(await get("/recycle_token?info=r")).toEqual({
        status: 200,
        type: "application/json",
        body: '{"available_tokens":1,"info":"r","message":"Token recycled successfully."}\n',
      });
      expect((await get("/recycle_token")).body).toBe('{"available_tokens":2,"info":"No info provided","message":"Token recycled successfully."}\n');
      expect(await get("/recycle_token")).toEqual({
        status: 400,
        type: "application/json",
        body: '{"available_tokens":2,"info":"No info provided","message":"All tokens are already available."}\n',
      });
    });

    it("escapes non-ASCII info the way Python's json did", async () => {
      const r = await get(`/issue_token?info=${encodeURIComponent('ü"€')}`);
      expect(r.body).toBe('{"available_tokens":1,"info":"\\u00fc\\"\\u20ac","message":"Token issued successfully."}\n');
      expect((await get("/recycle_token")).status).toBe(200);
    });

    it("rejects a missing or wrong X-API-PASSWORD on every route", async () => {
      for (const path of ["/issue_token", "/recycle_token", "/tokens"]) {
        for (const pw of [null, "wrong", ""]) {
          expect(await get(path, pw)).toEqual({ status: 401, type: "application/json", body: '{"error":"Unauthorized"}\n' });
        }
      }
      expect((await get("/tokens")).body).toBe('{"available_tokens":2}\n'); // nothing was issued by the rejected calls
    });

    it("gives a dead client's token back when its lease expires", async () => {
      expect((await get("/issue_token")).status).toBe(200);
      expect((await get("/tokens")).body).toBe('{"available_tokens":1}\n');
      expect(await tokensEventually('{"available_tokens":2}\n', 3000)).toBe('{"available_tokens":2}\n');
      // The expired lease is skipped: nothing is left to recycle.
      expect((await get("/recycle_token")).status).toBe(400);
    });

    it("shares the default pool with gRPC clients in both directions", async () => {
      const c = connectClient(s.url, s.password, "grpc-h2");
      const lease = (await c.unary("assignToken", { pool: "default", owner: "grpc" })).lease as { token: string };
      expect((await get("/tokens")).body).toBe('{"available_tokens":1}\n');
      expect((await get("/issue_token")).status).toBe(200);
      expect((await get("/issue_token")).status).toBe(429);
      const pool = (await c.unary("getPool", { name: "default" })).pool as { held: number };
      expect(pool.held).toBe(2);
      // A legacy recycle never releases the gRPC client's lease.
      expect((await get("/recycle_token")).status).toBe(200);
      expect((await get("/recycle_token")).status).toBe(400);
      expect((await c.unary("getToken", { pool: "default", token: lease.token })).state).toBe("TOKEN_STATE_HELD");
      await c.unary("releaseToken", { pool: "default", token: lease.token });
      expect((await get("/tokens")).body).toBe('{"available_tokens":2}\n');
    });

    it("applies an owner quota and cordons of the default pool to legacy clients", async () => {
      const c = connectClient(s.url, s.password, "grpc-h2");
      try {
        await c.unary("updatePool", { name: "default", maxLeasesPerOwner: 1 });
        expect((await get("/issue_token")).status).toBe(200);
        const refused = await get("/issue_token");
        expect(refused).toMatchObject({ status: 429, body: '{"available_tokens":0,"info":"No info provided","message":"No tokens available."}\n' });
        expect((await get("/recycle_token")).status).toBe(200);
        await c.unary("updatePool", { name: "default", maxLeasesPerOwner: 0 });
        const listed = (await c.unary("listTokens", { pool: "default" })).tokens as { token: string }[];
        await c.unary("cordonToken", { pool: "default", token: listed[0]!.token });
        expect((await get("/tokens")).body).toBe('{"available_tokens":1}\n');
        await c.unary("uncordonToken", { pool: "default", token: listed[0]!.token });
        expect((await get("/tokens")).body).toBe('{"available_tokens":2}\n');
      } finally {
        await c.unary("updatePool", { name: "default", maxLeasesPerOwner: 0 });
        c.close();
      }
    });

    it("recycles a named token only when a legacy client holds it", async () => {
      const c = connectClient(s.url, s.password, "grpc-h2");
      const lease = (await c.unary("assignToken", { pool: "default", owner: "grpc" })).lease as { token: string };
      expect((await get(`/recycle_token?token=${lease.token}`)).status).toBe(400);
      expect((await c.unary("getToken", { pool: "default", token: lease.token })).state).toBe("TOKEN_STATE_HELD");
      await c.unary("releaseToken", { pool: "default", token: lease.token });

      // Learn which token the legacy client got from the lease events, then recycle it by name.
      const abort = new AbortController();
      const events = c.watch({ pool: "default" }, { signal: abort.signal })[Symbol.asyncIterator]();
      const first = events.next();
      await sleep(100);
      expect((await get("/issue_token")).status).toBe(200);
      const assigned = (await first).value as { event: { token: string; owner: string } };
      abort.abort();
      expect(assigned.event.owner).toBe("legacy");
      expect((await get(`/recycle_token?token=${assigned.event.token}&info=named`)).body).toBe(
        '{"available_tokens":2,"info":"named","message":"Token recycled successfully."}\n',
      );
      expect((await get("/recycle_token")).status).toBe(400); // the FIFO entry went stale and is skipped
    });
  });
}
